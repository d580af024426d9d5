package iam_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// Virtual MFA devices through the SDK: create, enable with two
// consecutive TOTP codes, list, deactivate, delete, with IAM's errors.
func TestVirtualMFADevices(t *testing.T) { testenv.ForEachStore(t, testVirtualMFADevices) }

func testVirtualMFADevices(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	acct := testenv.SourceAccount
	testenv.Must[*iam.CreateUserOutput](t)(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dave")}))

	d := testenv.Must[*iam.CreateVirtualMFADeviceOutput](t)(admin.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("dave-phone")}))
	serial := aws.ToString(d.VirtualMFADevice.SerialNumber)
	if serial != "arn:aws:iam::"+acct+":mfa/dave-phone" {
		t.Fatalf("SerialNumber = %s", serial)
	}
	seed, err := base32.StdEncoding.DecodeString(string(d.VirtualMFADevice.Base32StringSeed))
	if err != nil || len(seed) != 20 {
		t.Fatalf("Base32StringSeed %q: %v", d.VirtualMFADevice.Base32StringSeed, err)
	}
	// QRCodePNG is a PNG (the SDK already base64-decoded the blob).
	if qr := d.VirtualMFADevice.QRCodePNG; !bytes.HasPrefix(qr, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("QRCodePNG starts with % x", qr[:min(8, len(qr))])
	} else if img, err := png.Decode(bytes.NewReader(qr)); err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
		t.Fatalf("QRCodePNG does not decode as a 256x256 PNG: %v", err)
	}
	_, err = admin.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("dave-phone")})
	testenv.WantAPIError(t, err, "EntityAlreadyExists", "MFADevice entity at the same path and name already exists.")

	un := testenv.Must[*iam.ListVirtualMFADevicesOutput](t)(admin.ListVirtualMFADevices(ctx, &iam.ListVirtualMFADevicesInput{AssignmentStatus: types.AssignmentStatusTypeUnassigned}))
	if len(un.VirtualMFADevices) != 1 || un.VirtualMFADevices[0].User != nil || len(un.VirtualMFADevices[0].Base32StringSeed) != 0 {
		t.Fatalf("unassigned devices = %+v", un.VirtualMFADevices)
	}

	now := time.Now()
	code1, code2 := identity.TOTPCode(seed, now.Add(-30*time.Second)), identity.TOTPCode(seed, now)
	_, err = admin.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("dave"), SerialNumber: aws.String(serial), AuthenticationCode1: aws.String(code2), AuthenticationCode2: aws.String(code1)})
	testenv.WantAPIError(t, err, "InvalidAuthenticationCode", "Authentication code for device is not valid.")
	_, err = admin.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("dave"), SerialNumber: aws.String(serial), AuthenticationCode1: aws.String("12345"), AuthenticationCode2: aws.String(code2)})
	testenv.WantAPIError(t, err, "ValidationError", "authenticationCode1")
	testenv.Must[*iam.EnableMFADeviceOutput](t)(admin.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("dave"), SerialNumber: aws.String(serial),
		AuthenticationCode1: aws.String(code1), AuthenticationCode2: aws.String(code2)}))
	_, err = admin.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("admin"), SerialNumber: aws.String(serial), AuthenticationCode1: aws.String(code1), AuthenticationCode2: aws.String(code2)})
	testenv.WantAPIError(t, err, "EntityAlreadyExists", "MFA Device is already in use.")

	list := testenv.Must[*iam.ListMFADevicesOutput](t)(admin.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("dave")}))
	if len(list.MFADevices) != 1 || aws.ToString(list.MFADevices[0].SerialNumber) != serial || aws.ToString(list.MFADevices[0].UserName) != "dave" || list.MFADevices[0].EnableDate == nil {
		t.Fatalf("ListMFADevices = %+v", list.MFADevices)
	}
	as := testenv.Must[*iam.ListVirtualMFADevicesOutput](t)(admin.ListVirtualMFADevices(ctx, &iam.ListVirtualMFADevicesInput{AssignmentStatus: types.AssignmentStatusTypeAssigned}))
	if len(as.VirtualMFADevices) != 1 || as.VirtualMFADevices[0].User == nil || aws.ToString(as.VirtualMFADevices[0].User.UserName) != "dave" {
		t.Fatalf("assigned devices = %+v", as.VirtualMFADevices)
	}

	_, err = admin.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)})
	testenv.WantAPIError(t, err, "DeleteConflict", "still in use by user dave")
	_, err = admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("dave")})
	testenv.WantAPIError(t, err, "DeleteConflict", "must remove MFA device first")

	_, err = admin.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("admin"), SerialNumber: aws.String(serial)})
	testenv.WantAPIError(t, err, "NoSuchEntity", "MFA Device with serial number "+serial+" does not exist.")
	testenv.Must[*iam.DeactivateMFADeviceOutput](t)(admin.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("dave"), SerialNumber: aws.String(serial)}))
	if l := testenv.Must[*iam.ListMFADevicesOutput](t)(admin.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("dave")})); len(l.MFADevices) != 0 {
		t.Fatalf("after DeactivateMFADevice: %+v", l.MFADevices)
	}
	testenv.Must[*iam.DeleteVirtualMFADeviceOutput](t)(admin.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)}))
	_, err = admin.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)})
	testenv.WantAPIError(t, err, "NoSuchEntity", "does not exist")
	testenv.Must[*iam.DeleteUserOutput](t)(admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("dave")}))

	// Another account's administrator cannot see or use the device.
	other := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))
	d2 := testenv.Must[*iam.CreateVirtualMFADeviceOutput](t)(admin.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("spare"), Path: aws.String("/team/")}))
	if !strings.HasSuffix(aws.ToString(d2.VirtualMFADevice.SerialNumber), ":mfa/team/spare") {
		t.Fatalf("serial with path = %s", aws.ToString(d2.VirtualMFADevice.SerialNumber))
	}
	_, err = other.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: d2.VirtualMFADevice.SerialNumber})
	testenv.WantAPIError(t, err, "AccessDenied", "is not authorized to perform: iam:DeleteVirtualMFADevice")
	if l := testenv.Must[*iam.ListVirtualMFADevicesOutput](t)(other.ListVirtualMFADevices(ctx, &iam.ListVirtualMFADevicesInput{})); len(l.VirtualMFADevices) != 0 {
		t.Fatalf("the backup account sees %+v", l.VirtualMFADevices)
	}
}
