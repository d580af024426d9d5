package kms

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite the golden ciphertexts in testdata")

// golden is a ciphertext written by an earlier build, with the material
// that decrypts it.
type golden struct {
	Material   string            // hex, 32 bytes
	KeyID      string            // UUID
	Version    uint32            // material version
	Context    map[string]string // encryption context
	Plaintext  string
	Ciphertext string // hex
}

func TestGoldenCiphertexts(t *testing.T) {
	cases := map[string]golden{
		"v1-no-context.json": {Material: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1, Plaintext: "hello, coffer"},
		"v1-context.json": {Material: "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100", KeyID: "0d5e2c8a-6d47-4f42-9f1b-5a0b9c3f7e21", Version: 4,
			Context: map[string]string{"purpose": "backup", "aws:backup:arn": "arn:aws:backup:us-east-1:111222333444:recovery-point:abc"}, Plaintext: "a data key would be 32 random bytes"},
	}
	for name, g := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			raw, _ := hex.DecodeString(g.Material)
			m, err := loadMaterial(SpecSymmetric, g.Version, raw)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				g.Ciphertext = hex.EncodeToString(m.sealSymmetric(uuid.MustParse(g.KeyID), []byte(g.Plaintext), g.Context))
				b, _ := json.MarshalIndent(g, "", "  ")
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want golden
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			ct, _ := hex.DecodeString(want.Ciphertext)
			h, _, err := parseCiphertext(ct)
			if err != nil {
				t.Fatal(err)
			}
			if h.KeyID.String() != g.KeyID || h.Version != g.Version {
				t.Errorf("header = %s v%d, want %s v%d", h.KeyID, h.Version, g.KeyID, g.Version)
			}
			pt, err := m.openSymmetric(ct, want.Context)
			if err != nil {
				t.Fatalf("golden ciphertext no longer decrypts: %v", err)
			}
			if string(pt) != g.Plaintext {
				t.Errorf("plaintext = %q, want %q", pt, g.Plaintext)
			}
		})
	}
}

func TestCiphertextBindsContextAndHeader(t *testing.T) {
	m, _ := loadMaterial(SpecSymmetric, 2, bytes.Repeat([]byte{7}, 32))
	id := uuid.New()
	ec := map[string]string{"a": "1", "b": "2"}
	ct := m.sealSymmetric(id, []byte("secret"), ec)
	if pt, err := m.openSymmetric(ct, map[string]string{"b": "2", "a": "1"}); err != nil || string(pt) != "secret" {
		t.Fatalf("reordered context: %q, %v", pt, err)
	}
	bad := []struct {
		name string
		ct   []byte
		ec   map[string]string
	}{
		{"context differs by one character", ct, map[string]string{"a": "1", "b": "3"}},
		{"context missing a pair", ct, map[string]string{"a": "1"}},
		{"no context", ct, nil},
		{"context key and value shifted", ct, map[string]string{"a": "1b", "": "2"}},
		{"truncated", ct[:len(ct)-1], ec},
		{"too short", ct[:ctMinSize-1], ec},
		{"version byte", append([]byte{2}, ct[1:]...), ec},
		{"material version altered", flip(ct, 20), ec},
		{"key id altered", flip(ct, 3), ec},
		{"nonce altered", flip(ct, 25), ec},
		{"body altered", flip(ct, ctHeaderSize+1), ec},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.openSymmetric(tt.ct, tt.ec); !errors.Is(err, errBadCiphertext) {
				t.Errorf("err = %v, want errBadCiphertext", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestCanonicalContextIsUnambiguous(t *testing.T) {
	a := appendCanonicalContext(nil, map[string]string{"ab": "c"})
	b := appendCanonicalContext(nil, map[string]string{"a": "bc"})
	if bytes.Equal(a, b) {
		t.Fatal("different contexts share a canonical form")
	}
	if len(appendCanonicalContext(nil, nil)) != 0 {
		t.Fatal("empty context must be empty")
	}
}

func FuzzParseCiphertext(f *testing.F) {
	m, _ := loadMaterial(SpecSymmetric, 1, bytes.Repeat([]byte{1}, 32))
	f.Add(m.sealSymmetric(uuid.New(), []byte("x"), nil))
	f.Add(m.sealSymmetric(uuid.New(), bytes.Repeat([]byte("y"), 100), map[string]string{"k": "v"}))
	f.Add([]byte{1})
	f.Add(make([]byte, ctMinSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := parseCiphertext(b)
		if err != nil {
			return
		}
		if len(body) < gcmTagSize || h.Version == 0 {
			t.Fatalf("accepted a blob with body %d bytes, version %d", len(body), h.Version)
		}
		if !bytes.Equal(h.marshal(), b[:ctHeaderSize]) {
			t.Fatal("header does not round-trip")
		}
		// Opening garbage must fail cleanly, never panic.
		m.openSymmetric(b, nil)
	})
}
