package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestChunkRoundTrip(t *testing.T) {
	c := Chunk{ID: NewMessageID(), Seq: 7, Offset: 7 * 1024, Data: bytes.Repeat([]byte{0xab}, 1024)}
	b := AppendChunk(nil, c)
	if len(b) != ChunkHeaderLen+1024 {
		t.Fatalf("frame length %d", len(b))
	}
	got, err := DecodeChunk(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Seq != c.Seq || got.Offset != c.Offset || !bytes.Equal(got.Data, c.Data) {
		t.Fatalf("round trip = %+v", got)
	}
}

func TestDecodeChunkErrors(t *testing.T) {
	valid := AppendChunk(nil, Chunk{ID: NewMessageID(), Data: []byte{1}})
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"header only", valid[:ChunkHeaderLen]},
		{"version", append([]byte{2}, valid[1:]...)},
		{"flags", append([]byte{1, 1}, valid[2:]...)},
		{"too much data", AppendChunk(nil, Chunk{Data: make([]byte, MaxChunk+1)})},
		{"offset overflow", AppendChunk(nil, Chunk{Offset: 1<<32 - 1, Data: []byte{1}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeChunk(tt.in); !errors.Is(err, ErrChunk) {
				t.Fatalf("DecodeChunk error = %v, want ErrChunk", err)
			}
		})
	}
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(AppendChunk(nil, Chunk{ID: NewMessageID(), Seq: 1, Offset: 32768, Data: []byte("hello")}))
	f.Add([]byte{1, 0})
	f.Add(make([]byte, ChunkHeaderLen+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChunk(b)
		if err != nil {
			return
		}
		if len(c.Data) == 0 || len(c.Data) > MaxChunk {
			t.Fatalf("accepted %d bytes of data", len(c.Data))
		}
		if re := AppendChunk(nil, c); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
