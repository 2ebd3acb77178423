// big: a large module (over 10 MB of wasm) that does little work, to measure
// compile time. It touches many standard packages so the linker keeps them.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"debug/elf"
	"encoding/base64"
	"encoding/csv"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	htmltemplate "html/template"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/big"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"
)

const source = `package demo

type Point struct{ X, Y int }

func (p Point) Add(q Point) Point { return Point{p.X + q.X, p.Y + q.Y} }

func Sum(ps []Point) (s Point) {
	for _, p := range ps {
		s = s.Add(p)
	}
	return
}
`

type item struct {
	XMLName xml.Name `xml:"item"`
	Name    string   `xml:"name,attr"`
	Value   int      `xml:"value"`
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

func goTools() string {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "demo.go", source, parser.ParseComments)
	check(err)
	pkg, err := (&types.Config{}).Check("demo", fset, []*ast.File{file}, nil)
	check(err)
	var out bytes.Buffer
	check(format.Node(&out, fset, file))
	return fmt.Sprintf("%s:%d", pkg.Scope().Lookup("Sum").Type(), out.Len())
}

func templates() string {
	var out bytes.Buffer
	t := template.Must(template.New("t").Parse("{{range .}}<{{.}}>{{end}}"))
	check(t.Execute(&out, []string{"a", "b"}))
	h := htmltemplate.Must(htmltemplate.New("h").Parse(`<a href="{{.}}">x</a>`))
	check(h.Execute(&out, "javascript:alert(1)"))
	return out.String()
}

func encodings() string {
	x, err := xml.Marshal(item{Name: "n", Value: 3})
	check(err)
	var back item
	check(xml.Unmarshal(x, &back))
	j, err := json.Marshal(back)
	check(err)
	var g bytes.Buffer
	check(gob.NewEncoder(&g).Encode(back))
	var c bytes.Buffer
	w := csv.NewWriter(&c)
	check(w.Write([]string{"a", "b,c"}))
	w.Flush()
	return base64.StdEncoding.EncodeToString(j) + c.String() + fmt.Sprint(g.Len())
}

func archives() int {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, err := zw.Create("a.txt")
	check(err)
	f.Write([]byte(strings.Repeat("zip ", 100)))
	check(zw.Close())
	tw := tar.NewWriter(&buf)
	check(tw.WriteHeader(&tar.Header{Name: "b", Size: 1, Mode: 0o644}))
	tw.Write([]byte("b"))
	check(tw.Close())
	gz := gzip.NewWriter(&buf)
	gz.Write([]byte("gzip"))
	check(gz.Close())
	return buf.Len()
}

func images() int {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := 0; i < 32; i++ {
		img.Set(i, i, color.RGBA{R: uint8(i * 8), A: 255})
	}
	var buf bytes.Buffer
	check(png.Encode(&buf, img))
	check(jpeg.Encode(&buf, img, nil))
	check(gif.Encode(&buf, img, nil))
	_, _, err := image.Decode(bytes.NewReader(buf.Bytes()))
	check(err)
	return buf.Len()
}

func cryptos() int {
	rng := rand.New(rand.NewSource(1))
	key := make([]byte, 32)
	rng.Read(key)
	block, err := aes.NewCipher(key)
	check(err)
	gcm, err := cipher.NewGCM(block)
	check(err)
	sealed := gcm.Seal(nil, make([]byte, gcm.NonceSize()), []byte("secret"), nil)
	mac := hmac.New(sha512.New, key)
	mac.Write(sealed)
	pub, priv, err := ed25519.GenerateKey(cryptorand.Reader)
	check(err)
	sig := ed25519.Sign(priv, []byte("msg"))
	if !ed25519.Verify(pub, []byte("msg"), sig) {
		panic("ed25519")
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<31, 0),
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	check(err)
	cert, err := x509.ParseCertificate(der)
	check(err)
	_ = rsa.PSSSaltLengthAuto
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: ec}}}
	return len(mac.Sum(nil)) + len(cert.Subject.CommonName) + len(cfg.Certificates) + len(tls.CipherSuites())
}

func web() string {
	handler := http.NewServeMux()
	handler.HandleFunc("/hi", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hi %s", r.URL.Query().Get("name"))
	})
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/hi?name=go", nil))
	u, err := url.Parse("https://example.com/a?b=c")
	check(err)
	addr, err := mail.ParseAddress("Gopher <gopher@example.com>")
	check(err)
	return rec.Body.String() + u.Host + addr.Address
}

func misc() string {
	re := regexp.MustCompile(`(\w+)@(\w+)`)
	_, err := elf.NewFile(bytes.NewReader(nil))
	drivers := sql.Drivers()
	return fmt.Sprint(re.FindStringSubmatch("me@there"), err != nil, len(drivers))
}

func main() {
	fmt.Fprintln(os.Stdout, goTools(), templates(), encodings(), archives(), images(), cryptos(), web(), misc())
}
