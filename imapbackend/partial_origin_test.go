package imapbackend

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"testing/iotest"
)

// fakeConn serves canned bytes as a connection's reads.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (c fakeConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestOriginConnStripsOnlyBinaryOrigins(t *testing.T) {
	lit := "BINARY[2]<7> is in a literal\r\n"
	in := "* 1 FETCH (UID 4 BINARY[2]<1048576> ~{5}\r\nab\r\nc)\r\n" +
		"* 2 FETCH (BINARY[1.2]<0> \"x\" BODY[TEXT]<10> {" + strconv.Itoa(len(lit)) + "}\r\n" + lit + " UID 9)\r\n" +
		"* 3 FETCH (ENVELOPE (NIL \"subject BINARY[1]<2> (BINARY[1]<3>)\" NIL) binary[3]<44> NIL)\r\n" +
		"* OK BINARY[]<5> in response text is rewritten too: harmless\r\n" +
		"* 4 FETCH (XBINARY[2]<5> NIL BINARY[2]<> NIL BINARY[2]<5 NIL)\r\n" +
		"T1 OK done\r\n"
	want := "* 1 FETCH (UID 4 BINARY[2] ~{5}\r\nab\r\nc)\r\n" +
		"* 2 FETCH (BINARY[1.2] \"x\" BODY[TEXT]<10> {" + strconv.Itoa(len(lit)) + "}\r\n" + lit + " UID 9)\r\n" +
		"* 3 FETCH (ENVELOPE (NIL \"subject BINARY[1]<2> (BINARY[1]<3>)\" NIL) binary[3] NIL)\r\n" +
		"* OK BINARY[] in response text is rewritten too: harmless\r\n" +
		"* 4 FETCH (XBINARY[2]<5> NIL BINARY[2]<> NIL BINARY[2]<5 NIL)\r\n" +
		"T1 OK done\r\n"
	for name, r := range map[string]io.Reader{
		"whole":   bytes.NewReader([]byte(in)),
		"by-byte": iotest.OneByteReader(bytes.NewReader([]byte(in))),
		"halves":  iotest.HalfReader(bytes.NewReader([]byte(in))),
	} {
		t.Run(name, func(t *testing.T) {
			c := newOriginConn(fakeConn{r: r})
			var got bytes.Buffer
			buf := make([]byte, 3) // small reads cut literals and lines anywhere
			for {
				n, err := c.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want {
				t.Errorf("filtered:\n%q\nwant:\n%q", got.String(), want)
			}
		})
	}
}

func TestOriginConnPassesAnUnterminatedLine(t *testing.T) {
	c := newOriginConn(fakeConn{r: bytes.NewReader([]byte("* 1 FETCH (BINARY[1]<3> ~{2}"))})
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "* 1 FETCH (BINARY[1] ~{2}" {
		t.Errorf("got %q, %v", got, err)
	}
}
