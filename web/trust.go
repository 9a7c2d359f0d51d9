package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

type trustData struct {
	Code     string
	Names    []string // the names the household CA may vouch for
	Platform string   // "apple", "android", "windows", "mac" or "", from the browser
}

// trustPage explains, in plain steps for each kind of phone and computer,
// how to trust the household CA, what that means, and how to check that
// it is this hub's: by the short code the hub's console shows.
func (s *Server) trustPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "trust", trustData{Code: s.cfg.CACode, Names: s.cfg.CANames, Platform: platform(r.UserAgent())})
}

// platform guesses the kind of device from its browser, to open its
// steps first; every kind's steps are on the page anyway.
func platform(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"):
		return "apple"
	case strings.Contains(ua, "Android"):
		return "android"
	case strings.Contains(ua, "Windows"):
		return "windows"
	case strings.Contains(ua, "Macintosh"):
		return "mac"
	}
	return ""
}

// caDER is the household CA's certificate in DER form.
func (s *Server) caDER() []byte {
	b, _ := pem.Decode(s.cfg.CAPEM)
	if b == nil {
		return nil
	}
	return b.Bytes
}

// fetched remembers that a logged-in person fetched the CA, which ticks
// "trust this hub" on their first steps.
func (s *Server) fetched(r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return
	}
	if _, u, err := s.st.SessionUser(r.Context(), c.Value, s.cfg.IdleTimeout, s.cfg.AbsoluteTimeout); err == nil {
		if err := s.st.SetMeta(r.Context(), trustedKey(u.ID), []byte{1}); err != nil {
			s.log.Warn("CA fetch not recorded", "error", err)
		}
	}
}

// caPEM serves the CA as PEM, for macOS, Linux and Firefox.
func (s *Server) caPEM(w http.ResponseWriter, r *http.Request) {
	s.fetched(r)
	download(w, "application/x-pem-file", "toyhub-ca.pem", s.cfg.CAPEM)
}

// caCRT serves the CA as DER, the form Android and Windows install.
func (s *Server) caCRT(w http.ResponseWriter, r *http.Request) {
	s.fetched(r)
	download(w, "application/x-x509-ca-cert", "toyhub-ca.crt", s.caDER())
}

// caProfile serves the CA as an Apple configuration profile, which an
// iPhone or iPad installs from Settings.
func (s *Server) caProfile(w http.ResponseWriter, r *http.Request) {
	s.fetched(r)
	der := s.caDER()
	sum := sha256.Sum256(der)
	uuid := func(salt byte) string {
		h := sha256.Sum256(append([]byte{salt}, sum[:]...))
		return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>toyhub-ca.cer</string>
			<key>PayloadContent</key>
			<data>%s</data>
			<key>PayloadDescription</key>
			<string>%s</string>
			<key>PayloadDisplayName</key>
			<string>toyhub household CA</string>
			<key>PayloadIdentifier</key>
			<string>org.toyhub.ca.%s</string>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadUUID</key>
			<string>%s</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDescription</key>
	<string>%s</string>
	<key>PayloadDisplayName</key>
	<string>toyhub: trust this hub (code %s)</string>
	<key>PayloadIdentifier</key>
	<string>org.toyhub.trust.%s</string>
	<key>PayloadRemovalDisallowed</key>
	<false/>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>%s</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
`, base64.StdEncoding.EncodeToString(der), esc(trustMeaning), uuid(1), uuid(1), esc(trustMeaning), esc(s.cfg.CACode), uuid(2), uuid(2))
	download(w, "application/x-apple-aspen-config", "toyhub.mobileconfig", []byte(b.String()))
}

// trustMeaning says what installing the CA means, in the profile.
const trustMeaning = "Lets this device recognise your toyhub on your home network. It can vouch only for your hub's own names and home addresses, never for another website."

func download(w http.ResponseWriter, contentType, name string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Write(b)
}
