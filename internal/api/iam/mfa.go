package iam

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"

	"github.com/skip2/go-qrcode"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// mfaOps are the virtual MFA device operations.
func (a api) mfaOps() map[string]protocol.QueryOp {
	return map[string]protocol.QueryOp{
		"CreateVirtualMFADevice": a.createVirtualMFADevice,
		"EnableMFADevice":        a.enableMFADevice,
		"ListMFADevices":         a.listMFADevices,
		"DeactivateMFADevice":    a.deactivateMFADevice,
		"DeleteVirtualMFADevice": a.deleteVirtualMFADevice,
		"ListVirtualMFADevices":  a.listVirtualMFADevices,
	}
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

func (a api) createVirtualMFADevice(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "VirtualMFADeviceName")
	if err != nil {
		return nil, err
	}
	d, err := a.ids.CreateVirtualMFADevice(ctx, name, form.Get("Path"), formTags(form))
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

func (a api) enableMFADevice(ctx context.Context, form url.Values) (any, error) {
	var v [4]string
	for i, name := range []string{"UserName", "SerialNumber", "AuthenticationCode1", "AuthenticationCode2"} {
		s, err := required(form, name)
		if err != nil {
			return nil, err
		}
		v[i] = s
	}
	return nil, a.ids.EnableMFADevice(ctx, v[0], v[1], v[2], v[3])
}

func (a api) listMFADevices(ctx context.Context, form url.Values) (any, error) {
	ds, err := a.ids.ListMFADevices(ctx, form.Get("UserName"))
	if err != nil {
		return nil, err
	}
	type mfaXML struct{ UserName, SerialNumber, EnableDate string }
	page, truncated, marker, err := listOf(form, ds, func(d identity.MFADevice) mfaXML { return mfaXML{d.UserName, d.SerialNumber, isoTime(d.EnableDate)} })
	if err != nil {
		return nil, err
	}
	return struct {
		MFADevices  []mfaXML `xml:"MFADevices>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	}{page, truncated, marker}, nil
}

func (a api) deactivateMFADevice(ctx context.Context, form url.Values) (any, error) {
	serial, err := required(form, "SerialNumber")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.DeactivateMFADevice(ctx, form.Get("UserName"), serial)
}

func (a api) deleteVirtualMFADevice(ctx context.Context, form url.Values) (any, error) {
	serial, err := required(form, "SerialNumber")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.DeleteVirtualMFADevice(ctx, serial)
}

func (a api) listVirtualMFADevices(ctx context.Context, form url.Values) (any, error) {
	ds, err := a.ids.ListVirtualMFADevices(ctx, form.Get("AssignmentStatus"))
	if err != nil {
		return nil, err
	}
	page, truncated, marker, err := listOf(form, ds, func(d identity.VirtualMFADevice) virtualMFAXML {
		x := virtualMFAXML{SerialNumber: d.SerialNumber}
		if d.UserName != "" {
			u := userOut(d.User)
			x.User = &u
			x.EnableDate = isoTime(d.EnableDate)
		}
		return x
	})
	if err != nil {
		return nil, err
	}
	return struct {
		VirtualMFADevices []virtualMFAXML `xml:"VirtualMFADevices>member"`
		IsTruncated       bool
		Marker            string `xml:",omitempty"`
	}{page, truncated, marker}, nil
}
