package identity

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"time"
)

// TOTP parameters of virtual MFA devices (RFC 6238, as authenticator apps
// use them): HMAC-SHA1, 30-second steps, 6 digits.
const totpStep = 30

// totpAt is the code of a seed at a time step.
func totpAt(seed []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

// totpStepOf is the time step containing t.
func totpStepOf(t time.Time) int64 { return t.Unix() / totpStep }

// TOTPCode is a virtual MFA device's code at t, for tests and tools that
// play the authenticator app.
func TOTPCode(seed []byte, t time.Time) string { return totpAt(seed, totpStepOf(t)) }

// totpWindow is how many steps before and after now a code may come
// from (clock skew between the app and the server).
const totpWindow = 2

// matchTOTP returns the step of now's window whose code is code and is
// newer than after; ok is false when none is.
func matchTOTP(seed []byte, code string, now time.Time, after int64) (int64, bool) {
	cur := totpStepOf(now)
	for s := cur - totpWindow; s <= cur+totpWindow; s++ {
		if s > after && hmac.Equal([]byte(totpAt(seed, s)), []byte(code)) {
			return s, true
		}
	}
	return 0, false
}
