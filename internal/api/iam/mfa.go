package iam

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/skip2/go-qrcode"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// mfaOps registers the virtual MFA device operations.
func (a api) mfaOps(s *protocol.QueryService) {
	protocol.QueryOperation(s, "CreateVirtualMFADevice", a.createVirtualMFADevice)
	protocol.QueryAction(s, "EnableMFADevice", a.enableMFADevice)
	protocol.QueryOperation(s, "ListMFADevices", a.listMFADevices)
	protocol.QueryAction(s, "DeactivateMFADevice", a.deactivateMFADevice)
	protocol.QueryAction(s, "DeleteVirtualMFADevice", a.deleteVirtualMFADevice)
	protocol.QueryOperation(s, "ListVirtualMFADevices", a.listVirtualMFADevices)
}

// virtualMFAXML is the VirtualMFADevice shape. Base32StringSeed is a blob:
// on the wire, the base64 of the base32 text. QRCodePNG is a blob too: the
// base64 of a PNG of the device's otpauth:// URI.
type virtualMFAXML struct {
	SerialNumber     string
	Base32StringSeed string   `xml:",omitempty"`
	QRCodePNG        string   `xml:",omitempty"`
	User             *userXML `xml:",omitempty"`
	EnableDate       string   `xml:",omitempty"`
}

func (a api) createVirtualMFADevice(ctx context.Context, in *struct {
	VirtualMFADeviceName, Path string
	Tags                       []identity.Tag
}) (any, error) {
	d, err := a.ids.CreateVirtualMFADevice(ctx, in.VirtualMFADeviceName, in.Path, in.Tags)
	if err != nil {
		return nil, err
	}
	png, err := qrcode.Encode(d.OTPAuthURI, qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("encode MFA QR code: %w", err)
	}
	return struct{ VirtualMFADevice virtualMFAXML }{virtualMFAXML{SerialNumber: d.SerialNumber,
		Base32StringSeed: base64.StdEncoding.EncodeToString([]byte(d.Base32StringSeed)), QRCodePNG: base64.StdEncoding.EncodeToString(png)}}, nil
}

func (a api) enableMFADevice(ctx context.Context, in *struct {
	UserName, SerialNumber, AuthenticationCode1, AuthenticationCode2 string
}) error {
	return a.ids.EnableMFADevice(ctx, in.UserName, in.SerialNumber, in.AuthenticationCode1, in.AuthenticationCode2)
}

func (a api) listMFADevices(ctx context.Context, in *struct {
	page
	UserName string
}) (any, error) {
	ds, err := a.ids.ListMFADevices(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	type mfaXML struct{ UserName, SerialNumber, EnableDate string }
	out, l, err := listOf(in.page, ds, func(d identity.MFADevice) mfaXML { return mfaXML{d.UserName, d.SerialNumber, isoTime(d.EnableDate)} })
	return struct {
		MFADevices []mfaXML `xml:"MFADevices>member"`
		list
	}{out, l}, err
}

func (a api) deactivateMFADevice(ctx context.Context, in *struct{ UserName, SerialNumber string }) error {
	return a.ids.DeactivateMFADevice(ctx, in.UserName, in.SerialNumber)
}

func (a api) deleteVirtualMFADevice(ctx context.Context, in *struct{ SerialNumber string }) error {
	return a.ids.DeleteVirtualMFADevice(ctx, in.SerialNumber)
}

func (a api) listVirtualMFADevices(ctx context.Context, in *struct {
	page
	AssignmentStatus string
}) (any, error) {
	ds, err := a.ids.ListVirtualMFADevices(ctx, in.AssignmentStatus)
	if err != nil {
		return nil, err
	}
	out, l, err := listOf(in.page, ds, func(d identity.VirtualMFADevice) virtualMFAXML {
		x := virtualMFAXML{SerialNumber: d.SerialNumber}
		if d.UserName != "" {
			u := userOut(d.User)
			x.User = &u
			x.EnableDate = isoTime(d.EnableDate)
		}
		return x
	})
	return struct {
		VirtualMFADevices []virtualMFAXML `xml:"VirtualMFADevices>member"`
		list
	}{out, l}, err
}
