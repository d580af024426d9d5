package kms

import (
	"encoding/binary"
	"errors"
	"sort"

	"github.com/google/uuid"
)

const (
	ciphertextV1     = 0x01
	ctHeaderSize     = 1 + 16 + 4 + 12
	gcmTagSize       = 16
	ctMinSize        = ctHeaderSize + gcmTagSize
	ciphertextAADPfx = "coffer/kms/ciphertext/v1\x00"
)

// errBadCiphertext is what the decoder returns for any malformed blob.
var errBadCiphertext = errors.New("kms: malformed ciphertext")

// header is the clear part of a symmetric ciphertext blob.
type header struct {
	KeyID   uuid.UUID
	Version uint32
	Nonce   [12]byte
}

func (h header) marshal() []byte {
	b := make([]byte, ctHeaderSize)
	b[0] = ciphertextV1
	copy(b[1:17], h.KeyID[:])
	binary.BigEndian.PutUint32(b[17:21], h.Version)
	copy(b[21:33], h.Nonce[:])
	return b
}

// parseCiphertext splits a blob into its header and sealed body.
func parseCiphertext(blob []byte) (header, []byte, error) {
	var h header
	if len(blob) < ctMinSize || blob[0] != ciphertextV1 {
		return h, nil, errBadCiphertext
	}
	copy(h.KeyID[:], blob[1:17])
	h.Version = binary.BigEndian.Uint32(blob[17:21])
	if h.Version == 0 {
		return h, nil, errBadCiphertext
	}
	copy(h.Nonce[:], blob[21:33])
	return h, blob[ctHeaderSize:], nil
}

// ciphertextAAD is the authenticated data of a blob: its header and the
// canonical encryption context.
func ciphertextAAD(hdr []byte, ec map[string]string) []byte {
	aad := make([]byte, 0, len(ciphertextAADPfx)+len(hdr)+64)
	aad = append(aad, ciphertextAADPfx...)
	aad = append(aad, hdr[:ctHeaderSize]...)
	return appendCanonicalContext(aad, ec)
}

// appendCanonicalContext writes the encryption context in sorted order
// with length prefixes, so equal maps give equal bytes whatever order the
// client sent them in.
func appendCanonicalContext(b []byte, ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		v := ec[k]
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}
