package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultBodyReadTimeout bounds how long a route waits for a request's
// whole body once the headers are in: a client that stalls or trickles its
// body gets 408 after it.
const DefaultBodyReadTimeout = 60 * time.Second

// UpstreamTLS is the TLS client configuration of one upstream (a route's
// tls:, or a fallback's). The zero value verifies the upstream's
// certificate against the system's roots, like any https:// URL. It is
// comparable: routes with equal settings share one transport.
type UpstreamTLS struct {
	// CAFile is a PEM file of the certificate authorities trusted for the
	// upstream's certificate, instead of the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its key sent
	// to an upstream that asks for one (mutual TLS). Both or neither.
	CertFile string
	KeyFile  string
	// ServerName is the name sent in SNI and checked in the upstream's
	// certificate, instead of the upstream URL's host.
	ServerName string
	// InsecureSkipVerify turns certificate verification off; serve logs a
	// warning naming the route at start-up and on each reload.
	InsecureSkipVerify bool
}

// FileError is a problem with a file that a TLS setting names: Key is the
// setting (ca_file, cert_file, key_file).
type FileError struct {
	Key  string
	File string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s %q: %v", e.Key, e.File, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// ClientConfig loads t's files and returns the tls.Config of a transport to
// the upstream. An error is a *FileError, or several joined.
func (t UpstreamTLS) ClientConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // explicit setting, warned about
	var errs []error
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			errs = append(errs, err)
		}
		tc.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := LoadKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case t.KeyFile != "":
		errs = append(errs, &FileError{Key: "key_file", File: t.KeyFile, Err: errors.New("set without cert_file (a client certificate needs both)")})
	case t.CertFile != "":
		errs = append(errs, &FileError{Key: "cert_file", File: t.CertFile, Err: errors.New("set without key_file (a client certificate needs both)")})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return tc, nil
}

func loadCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &FileError{Key: "ca_file", File: file, Err: unwrapPath(err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, &FileError{Key: "ca_file", File: file, Err: errors.New("no PEM certificate in it")}
	}
	return pool, nil
}

// LoadKeyPair loads a PEM certificate (chain) and its private key. An error
// is a *FileError naming cert_file or key_file: a file that cannot be read,
// holds no PEM block of the right kind, or a key that is not the
// certificate's.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	read := func(key, file, kind string) ([]byte, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, &FileError{Key: key, File: file, Err: unwrapPath(err)}
		}
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return nil, &FileError{Key: key, File: file, Err: fmt.Errorf("no PEM %s in it", kind)}
			}
			if strings.HasSuffix(b.Type, kind) {
				return data, nil
			}
		}
	}
	certPEM, cerr := read("cert_file", certFile, "CERTIFICATE")
	keyPEM, kerr := read("key_file", keyFile, "PRIVATE KEY")
	if err := errors.Join(cerr, kerr); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, &FileError{Key: "key_file", File: keyFile,
			Err: fmt.Errorf("not the key of cert_file %q: %s", certFile, strings.TrimPrefix(err.Error(), "tls: "))}
	}
	return cert, nil
}

// unwrapPath drops the file name an *fs.PathError repeats.
func unwrapPath(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// fileErrors splits an error of ClientConfig or LoadKeyPair into its
// *FileErrors.
func fileErrors(err error) []*FileError {
	var out []*FileError
	for _, e := range unjoin(err) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				out = append(out, fileErrors(inner)...)
			}
			continue
		}
		var fe *FileError
		if errors.As(e, &fe) {
			out = append(out, fe)
		} else {
			out = append(out, &FileError{Err: e})
		}
	}
	return out
}

// relPath resolves a file named in the configuration relative to the
// configuration file's directory.
func (c *Config) relPath(file string) string {
	if file == "" || filepath.IsAbs(file) || c.file == "" {
		return file
	}
	return filepath.Join(filepath.Dir(c.file), file)
}

// loadedTLS is the outcome of UpstreamTLS.ClientConfig.
type loadedTLS struct {
	cfg *tls.Config
	err error
}

// Problems of a tls: block whose URL is http://, by what the URL is.
const (
	tlsForHTTPUpstream    = "set for an http:// upstream: TLS applies to https:// upstreams only"
	tlsForHTTPHealthCheck = "set for an http:// health check URL: TLS applies to https:// URLs only"
)

// checkUpstreamTLS checks the tls: block at path+".tls" (of a route, a
// fallback or a health check): that its URL, of scheme, is https:// (else
// it reports onHTTP), that its settings go together, and that its files
// load. loaded caches the outcome per settings, so that ten thousand routes
// naming one CA read it once, and equal settings get one *tls.Config. It
// returns the configuration, nil when t is nil or its files do not load.
func (c *Config) checkUpstreamTLS(ps *problems, path string, t *UpstreamTLS, scheme, onHTTP string, loaded map[UpstreamTLS]loadedTLS) *tls.Config {
	if t == nil {
		return nil
	}
	tp := path + ".tls"
	if scheme == "http" {
		ps.at(c.at(tp), tp, "%s", onHTTP)
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		ps.at(c.at(tp+".ca_file"), tp+".ca_file", "unused with insecure_skip_verify: true (nothing is verified); remove one of them")
	}
	l, done := loaded[*t]
	if !done {
		l.cfg, l.err = t.ClientConfig()
		loaded[*t] = l
	}
	err := l.err
	for _, fe := range fileErrors(err) {
		kp, msg := tp, fe.Err.Error()
		if fe.Key != "" {
			kp += "." + fe.Key
		}
		if fe.File != "" {
			msg = fmt.Sprintf("%q: %v", fe.File, fe.Err)
		}
		ps.at(c.at(kp), kp, "%s", msg)
	}
	return l.cfg
}

// checkListenerTLS checks tls_cert_file and tls_key_file: both or neither,
// and a certificate and key that load and match.
func (c *Config) checkListenerTLS(ps *problems) {
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile == "":
		return
	case c.TLSCertFile == "":
		ps.at(c.at("tls_key_file"), "tls_key_file", "set without tls_cert_file: serving HTTPS needs both")
		return
	case c.TLSKeyFile == "":
		ps.at(c.at("tls_cert_file"), "tls_cert_file", "set without tls_key_file: serving HTTPS needs both")
		return
	}
	_, err := LoadKeyPair(c.TLSCertFile, c.TLSKeyFile)
	for _, fe := range fileErrors(err) {
		key := "tls_" + fe.Key
		ps.at(c.at(key), key, "%q: %v", fe.File, fe.Err)
	}
}
