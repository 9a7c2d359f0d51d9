package web

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // phone cameras take JPEG
	_ "image/png"
	"io"
	"net/http"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/toyhub/toyhub/wire"
)

// Scanning a label: a phone's browser offers its camera for a file input
// (capture=environment), so "scan the QR code" needs no script and works
// in every browser. The photo is decoded here and forgotten; it is never
// stored or logged.
const (
	maxPhotoBytes  = 12 << 20
	maxPhotoPixels = 24_000_000 // about a 24-megapixel phone photo
)

// readLabel finds a pairing code in a photo of a label. The photo is read
// into memory, whole and bounded (the body is at most maxPhotoBytes),
// never spooled to a temporary file.
func readLabel(r *http.Request) (wire.PairingCode, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", errors.New("no photo was sent")
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return "", errors.New("no photo was sent")
		}
		if p.FormName() != "photo" {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return "", errors.New("the photo could not be received: it may be too large")
		}
		return decodeLabel(bytes.NewReader(b))
	}
}

// decodeLabel reads a pairing code from the QR code in a JPEG or PNG
// picture, refusing pictures too large to decode on a Pi.
func decodeLabel(f io.ReadSeeker) (wire.PairingCode, error) {
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return "", errors.New("the photo is not a JPEG or PNG picture")
	}
	if cfg.Width*cfg.Height > maxPhotoPixels {
		return "", fmt.Errorf("the photo is too large (%d×%d); take it with a lower resolution", cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return "", err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return "", errors.New("the photo could not be read")
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", errors.New("the photo could not be read")
	}
	res, err := readQR(bmp)
	if err != nil {
		return "", errors.New("no QR code was found in the photo; hold the label flat, in good light, and fill the picture with it")
	}
	text := strings.TrimSpace(res.GetText())
	code, err := wire.ParsePairingCode(text)
	if err != nil {
		return "", errors.New("the QR code is not a toyhub pairing code")
	}
	return code, nil
}

// readQR decodes the QR code in bmp. gozxing's finder misses some codes
// upright whatever the picture, by their pattern alone (about one
// pairing code in 250, a clean rendering of the label included); turned
// a quarter, each of those was found (1,500 codes tried), so it looks
// again turned before it gives up.
func readQR(bmp *gozxing.BinaryBitmap) (*gozxing.Result, error) {
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err == nil {
		return res, nil
	}
	if turned, terr := bmp.RotateCounterClockwise(); terr == nil {
		if res, terr := qrcode.NewQRCodeReader().Decode(turned, hints); terr == nil {
			return res, nil
		}
	}
	return nil, err
}

// scanLabel reads the code from a photo of the label and fills in the
// pairing form with it; the parent still names the toy and confirms.
func (s *Server) scanLabel(w http.ResponseWriter, r *http.Request) {
	select {
	case s.scans <- struct{}{}: // one decode at a time: a photo takes tens of MB
		defer func() { <-s.scans }()
	case <-r.Context().Done():
		return
	}
	code, err := readLabel(r)
	if err != nil {
		s.renderToys(w, r, http.StatusBadRequest, toysData{Error: "The label could not be read: " + err.Error() + ". You can type the code instead."})
		return
	}
	s.renderToys(w, r, http.StatusOK, toysData{Code: code.String(), Notice: "The code was read from the photo. Give the toy a name, then press Pair."})
}
