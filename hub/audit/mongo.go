package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"time"
)

// Just enough of MongoDB's wire protocol (OP_MSG, opcode 2013) and BSON
// to ask "hello" and "listDatabases" the way a scanner on the Internet
// does, and to read the answers.

const opMsg = 2013

type bsonElem struct {
	key string
	val any // int32, string, bool, float64
}

func bsonDoc(elems ...bsonElem) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0})
	for _, e := range elems {
		switch v := e.val.(type) {
		case int32:
			b.WriteByte(0x10)
			b.WriteString(e.key)
			b.WriteByte(0)
			binary.Write(&b, binary.LittleEndian, v)
		case string:
			b.WriteByte(0x02)
			b.WriteString(e.key)
			b.WriteByte(0)
			binary.Write(&b, binary.LittleEndian, int32(len(v)+1))
			b.WriteString(v)
			b.WriteByte(0)
		case bool:
			b.WriteByte(0x08)
			b.WriteString(e.key)
			b.WriteByte(0)
			if v {
				b.WriteByte(1)
			} else {
				b.WriteByte(0)
			}
		}
	}
	b.WriteByte(0)
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}

// bsonFields reads the top-level fields of a BSON document: numbers,
// strings and booleans by value; documents and arrays as the number of
// their elements.
func bsonFields(doc []byte) (map[string]any, error) {
	if len(doc) < 5 || int(binary.LittleEndian.Uint32(doc)) != len(doc) || doc[len(doc)-1] != 0 {
		return nil, errors.New("bson: bad document length")
	}
	out := map[string]any{}
	p := doc[4 : len(doc)-1]
	for len(p) > 0 {
		t := p[0]
		end := bytes.IndexByte(p[1:], 0)
		if end < 0 {
			return nil, errors.New("bson: unterminated key")
		}
		key := string(p[1 : 1+end])
		p = p[2+end:]
		var n int
		switch t {
		case 0x01: // double
			if len(p) < 8 {
				return nil, errors.New("bson: short double")
			}
			out[key] = math.Float64frombits(binary.LittleEndian.Uint64(p))
			n = 8
		case 0x02: // string
			if len(p) < 4 {
				return nil, errors.New("bson: short string")
			}
			l := int(binary.LittleEndian.Uint32(p))
			if l < 1 || 4+l > len(p) {
				return nil, errors.New("bson: bad string")
			}
			out[key] = string(p[4 : 4+l-1])
			n = 4 + l
		case 0x03, 0x04: // document, array
			if len(p) < 4 {
				return nil, errors.New("bson: short document")
			}
			l := int(binary.LittleEndian.Uint32(p))
			if l < 5 || l > len(p) {
				return nil, errors.New("bson: bad document")
			}
			inner, err := bsonFields(p[:l])
			if err != nil {
				return nil, err
			}
			out[key] = len(inner)
			n = l
		case 0x08: // bool
			if len(p) < 1 {
				return nil, errors.New("bson: short bool")
			}
			out[key] = p[0] == 1
			n = 1
		case 0x0A: // null
		case 0x10: // int32
			if len(p) < 4 {
				return nil, errors.New("bson: short int32")
			}
			out[key] = float64(int32(binary.LittleEndian.Uint32(p)))
			n = 4
		case 0x07: // ObjectId
			n = 12
		case 0x09, 0x11, 0x12: // datetime, timestamp, int64
			if len(p) < 8 {
				return nil, errors.New("bson: short 64-bit value")
			}
			out[key] = float64(int64(binary.LittleEndian.Uint64(p)))
			n = 8
		default:
			return nil, fmt.Errorf("bson: type %#x not understood", t)
		}
		if n > len(p) {
			return nil, errors.New("bson: truncated")
		}
		p = p[n:]
	}
	return out, nil
}

// mongoCommand sends one OP_MSG command and returns the reply's fields.
func mongoCommand(c net.Conn, id int32, cmd []byte, timeout time.Duration) (map[string]any, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	var msg bytes.Buffer
	binary.Write(&msg, binary.LittleEndian, []int32{int32(16 + 4 + 1 + len(cmd)), id, 0, opMsg})
	binary.Write(&msg, binary.LittleEndian, uint32(0)) // flags
	msg.WriteByte(0)                                   // section kind 0: the body
	msg.Write(cmd)
	if _, err := c.Write(msg.Bytes()); err != nil {
		return nil, err
	}
	var hdr [16]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(hdr[0:]))
	if binary.LittleEndian.Uint32(hdr[12:]) != opMsg || length < 21 || length > 16<<20 {
		return nil, errors.New("mongodb: not an OP_MSG reply")
	}
	body := make([]byte, length-16)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	if body[4] != 0 {
		return nil, errors.New("mongodb: reply without a body section")
	}
	return bsonFields(body[5:])
}

func okField(f map[string]any) bool {
	v, _ := f["ok"].(float64)
	return v == 1
}

func probeMongo(ctx context.Context, s *scanner, ap netip.AddrPort) *Finding {
	c, err := s.dial(ctx, ap)
	if err != nil {
		return nil
	}
	defer c.Close()
	hello, err := mongoCommand(c, 1, bsonDoc(bsonElem{"hello", int32(1)}, bsonElem{"$db", "admin"}), s.opt.Timeout)
	if err != nil || !okField(hello) {
		return nil
	}
	list, err := mongoCommand(c, 2, bsonDoc(bsonElem{"listDatabases", int32(1)}, bsonElem{"nameOnly", true}, bsonElem{"$db", "admin"}), s.opt.Timeout)
	if err == nil && okField(list) {
		n, _ := list["databases"].(int)
		return finding(High, ap, "MongoDB answers without authentication", "MongoDB's hello and listDatabases, with no credentials",
			fmt.Sprintf("both succeeded; it lists %d databases to anyone", n), fixDatabase)
	}
	return finding(Low, ap, "MongoDB listens on the network (with authentication)", "MongoDB's hello and listDatabases, with no credentials",
		"hello answered, listDatabases was refused", "If nothing on other machines needs it, bind MongoDB to 127.0.0.1 (net.bindIp).")
}
