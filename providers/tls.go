package providers

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// TLSOptions declares the TLS options of a section ("database", "splunk",
// ...): ca_file, cert_file, key_file, server_name, insecure_skip_verify.
// peer names what is verified, e.g. "the database server".
func TLSOptions(section, peer string) []Option {
	p := section + ".tls."
	return []Option{
		{Key: p + "ca_file", Type: String, Description: "PEM file of CA certificates to verify " + peer + " with (default: the system pool)."},
		{Key: p + "cert_file", Type: String, Description: "PEM client certificate for mutual TLS to " + peer + "."},
		{Key: p + "key_file", Type: String, Description: "PEM private key of the client certificate."},
		{Key: p + "server_name", Type: String, Description: "Server name to verify instead of the URL's host."},
		{Key: p + "insecure_skip_verify", Type: Bool, Default: "false", Description: "Skip verifying " + peer + "'s certificate. For tests only."},
	}
}

// TLSFromSettings reads the options TLSOptions declared for section.
// Enabled is set when any of them asks for something beyond the defaults.
func TLSFromSettings(s Settings, section string) TLSConfig {
	p := section + ".tls."
	t := TLSConfig{
		CAFile:             s.String(p + "ca_file"),
		CertFile:           s.String(p + "cert_file"),
		KeyFile:            s.String(p + "key_file"),
		ServerName:         s.String(p + "server_name"),
		InsecureSkipVerify: s.Bool(p + "insecure_skip_verify"),
	}
	t.Enabled = t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
	return t
}

// Config builds a crypto/tls config: TLS 1.2 or later, certificates verified
// against the system pool or CAFile unless InsecureSkipVerify is set,
// serverName when the config names none. Problems with the files are
// ErrInvalid, named after section.
func (t TLSConfig) Config(section, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as for tests only
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, Invalid("%s.tls.ca_file: %v", section, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, Invalid("%s.tls.ca_file: %s holds no PEM certificate", section, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, Invalid("%s.tls.cert_file and key_file: %v", section, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
