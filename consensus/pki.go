package consensus

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
)

// nodeURIPrefix starts the URI SAN that binds a certificate to a node ID.
const nodeURIPrefix = "charta://node/"

// NewCA creates a self-signed consortium CA for development and tests:
// an ECDSA P-256 key and a certificate valid for validFor. Operators may
// bring their own CA instead; any CA whose node certificates carry the
// charta://node/<id> URI SAN works.
func NewCA(name string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: new CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Charta consortium"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: new CA: %w", err)
	}
	return encodeCertKey(der, key)
}

// IssueNodeCert issues a certificate for node id, signed by the CA. The ID
// is bound in a URI SAN charta://node/<id>; hosts (IP addresses or DNS
// names) become SANs too, so the certificate can also serve HTTPS. It is
// valid for both server and client authentication.
func IssueNodeCert(caCertPEM, caKeyPEM []byte, id string, hosts []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if !ledger.ValidMemberID(id) {
		return nil, nil, fmt.Errorf("consensus: issue node certificate: %q is not a member ID", id)
	}
	caCert, err := parseCertPEM(caCertPEM)
	if err != nil {
		return nil, nil, err
	}
	caKey, err := parseKeyPEM(caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: issue node certificate: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	uri, _ := url.Parse(nodeURIPrefix + id)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id, Organization: []string{"Charta node"}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{uri},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: issue node certificate: %w", err)
	}
	return encodeCertKey(der, key)
}

// NodeIDFromCert returns the node ID a certificate is bound to: the one
// URI SAN of the form charta://node/<id>. A certificate with none, or with
// more than one, names no node.
func NodeIDFromCert(c *x509.Certificate) (string, error) {
	var id string
	for _, u := range c.URIs {
		s := u.String()
		if !strings.HasPrefix(s, nodeURIPrefix) {
			continue
		}
		if id != "" {
			return "", errors.New("consensus: certificate names more than one node")
		}
		id = strings.TrimPrefix(s, nodeURIPrefix)
		if !ledger.ValidMemberID(id) {
			return "", fmt.Errorf("consensus: certificate names node %q, which is not a member ID", id)
		}
	}
	if id == "" {
		return "", errors.New("consensus: certificate has no charta://node/<id> URI SAN")
	}
	return id, nil
}

// Identity is a loaded mTLS identity: the node's certificate and key, the
// CA pool that peers must chain to, and the node ID the certificate names.
type Identity struct {
	Cert tls.Certificate
	CAs  *x509.CertPool
	ID   string
}

// Load reads and checks the files: the key must match the certificate, the
// certificate must chain to the CA and name a node.
func (f TLSFiles) Load() (*Identity, error) {
	caPEM, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("consensus: tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("consensus: tls: %s holds no PEM certificate", f.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("consensus: tls: %w", err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("consensus: tls: %w", err)
		}
		cert.Leaf = leaf
	}
	if err := verifyChain(leaf, cert.Certificate[1:], pool, x509.ExtKeyUsageAny); err != nil {
		return nil, fmt.Errorf("consensus: tls: %s: %w", f.CertFile, err)
	}
	id, err := NodeIDFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("consensus: tls: %s: %w", f.CertFile, err)
	}
	return &Identity{Cert: cert, CAs: pool, ID: id}, nil
}

// verifyChain checks that leaf chains to roots, without a host name check:
// peers are identified by the node ID in the certificate, not by address.
func verifyChain(leaf *x509.Certificate, intermediates [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	inter := x509.NewCertPool()
	for _, der := range intermediates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("consensus: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func encodeCertKey(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("consensus: no PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("consensus: certificate: %w", err)
	}
	return c, nil
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("consensus: no PEM private key")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("consensus: unsupported PEM key type %q", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("consensus: private key cannot sign")
	}
	return s, nil
}
