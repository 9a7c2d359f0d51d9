package web

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"

	"github.com/toyhub/toyhub/wire"
)

// photo puts a QR code of text into a larger grey picture, scaled up, as a
// phone photo of a label would show it, and encodes it as JPEG or PNG.
func photo(t *testing.T, text string, format string) []byte {
	t.Helper()
	q, err := qrcode.Encode(text, qrcode.Medium, 300)
	if err != nil {
		t.Fatal(err)
	}
	label, err := png.Decode(bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	pic := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	draw.Draw(pic, pic.Bounds(), &image.Uniform{color.RGBA{140, 130, 120, 255}}, image.Point{}, draw.Src)
	// Scale the label 2× into the middle of the picture.
	for y := range 600 {
		for x := range 600 {
			pic.Set(300+x, 150+y, label.At(x/2, y/2))
		}
	}
	var buf bytes.Buffer
	if format == "jpeg" {
		err = jpeg.Encode(&buf, pic, &jpeg.Options{Quality: 70})
	} else {
		err = png.Encode(&buf, pic)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func greyPNG(t *testing.T) []byte {
	var buf bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 800, 600))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.Gray{128}}, image.Point{}, draw.Src)
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hugePNG(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 6000, 5000))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestScanLabel(t *testing.T) {
	a := newApp(t)
	c := a.browser()
	a.setupOwner(c)
	// Fixed codes: a random one made this test fail about once in 250
	// runs, when gozxing's finder missed its pattern upright. The first
	// is found upright; the finder misses the second upright in every
	// picture of it (CI found it), and finds it turned.
	code, err := wire.ParsePairingCode("XWN47-ABB58-63HYF-19QAQ-AJX6K-ZB")
	if err != nil {
		t.Fatal(err)
	}
	const missedUpright = "C3110-ZH8HJ-YH37F-0AW9N-3BP2Q-HQ"
	tests := []struct {
		name  string
		photo []byte
		want  int
		says  string
	}{
		{"label photo, JPEG", photo(t, code.String(), "jpeg"), 200, code.String()},
		{"label photo, PNG", photo(t, code.String(), "png"), 200, code.String()},
		{"a label the finder misses upright, JPEG", photo(t, missedUpright, "jpeg"), 200, missedUpright},
		{"a label the finder misses upright, PNG", photo(t, missedUpright, "png"), 200, missedUpright},
		{"QR of something else", photo(t, "https://example.org/", "png"), 400, "not a toyhub pairing code"},
		{"no QR code", greyPNG(t), 400, "no QR code was found"},
		{"not a picture", []byte("RIFF....WAVEfmt "), 400, "not a JPEG or PNG"},
		{"too many pixels", hugePNG(t), 400, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile("photo", "label.jpg")
			fw.Write(tt.photo)
			mw.Close()
			req, _ := http.NewRequest("POST", a.ts.URL+"/toys/scan", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.says) {
				t.Fatalf("%d, page lacks %q", resp.StatusCode, tt.says)
			}
			if tt.want == 200 && !strings.Contains(string(b), `name="code" value="`+tt.says+`"`) {
				t.Fatal("the pairing form is not filled in with the code")
			}
		})
	}
}
