package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ChunkHeaderLen is the size of a chunk frame before its data.
const ChunkHeaderLen = 26

const chunkVersion = 1

// Chunk is one frame of message bytes, uploaded (up/chunk) or delivered
// (down/data).
type Chunk struct {
	ID     MessageID
	Seq    uint32
	Offset uint32
	Data   []byte
}

// ErrChunk is wrapped by every chunk decoding error.
var ErrChunk = errors.New("wire: bad chunk frame")

// AppendChunk appends the encoded frame to dst.
func AppendChunk(dst []byte, c Chunk) []byte {
	dst = append(dst, chunkVersion, 0)
	dst = append(dst, c.ID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, c.Seq)
	dst = binary.BigEndian.AppendUint32(dst, c.Offset)
	return append(dst, c.Data...)
}

// DecodeChunk parses a frame. Data aliases b.
func DecodeChunk(b []byte) (Chunk, error) {
	var c Chunk
	if len(b) < ChunkHeaderLen+1 {
		return c, fmt.Errorf("%w: %d bytes is shorter than a frame", ErrChunk, len(b))
	}
	if b[0] != chunkVersion {
		return c, fmt.Errorf("%w: version %d", ErrChunk, b[0])
	}
	if b[1] != 0 {
		return c, fmt.Errorf("%w: reserved flags %#x", ErrChunk, b[1])
	}
	copy(c.ID[:], b[2:18])
	c.Seq = binary.BigEndian.Uint32(b[18:22])
	c.Offset = binary.BigEndian.Uint32(b[22:26])
	c.Data = b[ChunkHeaderLen:]
	if len(c.Data) > MaxChunk {
		return c, fmt.Errorf("%w: %d bytes of data exceed %d", ErrChunk, len(c.Data), MaxChunk)
	}
	if uint64(c.Offset)+uint64(len(c.Data)) > 1<<32-1 {
		return c, fmt.Errorf("%w: offset %d overflows", ErrChunk, c.Offset)
	}
	return c, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
