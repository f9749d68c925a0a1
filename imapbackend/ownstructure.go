package imapbackend

import (
	"bufio"
	"bytes"
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	mcharset "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// A strict RFC 2045 server (Courier) reports a message without a
// MIME-Version header as one text/plain part, whatever its Content-Type
// says, so its attachments would be missing from the tree. For such a
// message the structure is worked out here from its bytes, numbered as
// IMAP numbers sections, and every part is cut from its TEXT: the server
// would number BODY[n] after its own structure, so no part of it is ever
// fetched by section.

// ClaimsMultipart reports whether the server gave st as one text/plain
// part although the message's header has a multipart Content-Type with a
// boundary.
func (s *Structure) ClaimsMultipart() bool {
	sp, ok := s.Body.(*imap.BodyStructureSinglePart)
	if !ok || s.Parsed || sp.MediaType() != "text/plain" {
		return false
	}
	// Most plain messages are plain: spare them a header parse.
	if !bytes.Contains(bytes.ToLower(s.Header), []byte("multipart")) {
		return false
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(s.Header)))
	if err != nil {
		return false
	}
	mt, params := contentType(h, "text/plain")
	return strings.HasPrefix(mt, "multipart/") && params["boundary"] != ""
}

// ParseStructure returns st with the structure worked out from text, the
// message's BODY[TEXT], its parts marked Parsed; false when text does not
// hold the parts its header announces (no delimiter found) or has bare
// LFs, which the cutter leaves alone (CutParts): the server's structure
// stands then.
func ParseStructure(st *Structure, text []byte) (*Structure, bool) {
	if hasBareLF(text) {
		return nil, false
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(st.Header)))
	if err != nil {
		return nil, false
	}
	left := maxOwnParts
	body := parseEntity(h, text, "text/plain", 0, &left)
	mp, ok := body.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) == 0 || left < 0 {
		return nil, false
	}
	out := *st
	out.Body = body
	out.Parsed = true
	out.Parts = LeafParts(body)
	for i := range out.Parts {
		out.Parts[i].Parsed = true
	}
	return &out, true
}

// maxOwnParts bounds the entities of a structure worked out here: a
// message of tiny parts would otherwise make a structure many times its
// size. One with more is left as the server's one part.
const maxOwnParts = 10000

// parseEntity gives the structure of one entity from its header and body,
// as a server's BODYSTRUCTURE would: sizes are the raw body's octets, so
// that CutParts, which checks them, keeps every part. Past maxPartDepth a
// multipart or message stays one opaque part. left counts down the
// entities still allowed, and goes below zero when there are more.
func parseEntity(h textproto.Header, body []byte, defaultType string, depth int, left *int) imap.BodyStructure {
	mt, params := contentType(h, defaultType)
	typ, sub, _ := strings.Cut(mt, "/")
	if typ == "multipart" && params["boundary"] != "" && depth < maxPartDepth {
		childType := "text/plain"
		if sub == "digest" {
			childType = "message/rfc822" // RFC 2046, 5.1.5
		}
		mp := &imap.BodyStructureMultiPart{Subtype: strings.ToUpper(sub),
			Extended: &imap.BodyStructureMultiPartExt{Params: params, Disposition: disposition(h)}}
		entities := splitMultipart(body, params["boundary"], max(*left, 0)+1)
		if *left -= len(entities); *left < 0 {
			return mp
		}
		for _, entity := range entities {
			inner := entityBody(entity)
			ch := entityHeader(entity[:len(entity)-len(inner)])
			mp.Children = append(mp.Children, parseEntity(ch, inner, childType, depth+1, left))
			if *left < 0 {
				return mp
			}
		}
		if len(mp.Children) > 0 {
			return mp
		}
		typ, sub, params = "text", "plain", map[string]string{"charset": "us-ascii"} // RFC 2046, 5.1.1: no parts
	}
	sp := &imap.BodyStructureSinglePart{
		Type: strings.ToUpper(typ), Subtype: strings.ToUpper(sub), Params: params,
		ID: h.Get("Content-Id"), Description: h.Get("Content-Description"),
		Encoding: strings.ToUpper(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))),
		Size:     uint32(min(len(body), 1<<32-1)),
		Extended: &imap.BodyStructureSinglePartExt{Disposition: disposition(h)},
	}
	if sp.Encoding == "" {
		sp.Encoding = "7BIT"
	}
	if typ == "message" && (sub == "rfc822" || sub == "global") && depth < maxPartDepth {
		inner := entityBody(body)
		ih := entityHeader(body[:len(body)-len(inner)])
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      &imap.Envelope{Subject: ih.Get("Subject")},
			BodyStructure: parseEntity(ih, inner, "text/plain", depth+1, left),
			NumLines:      int64(bytes.Count(body, []byte("\n"))),
		}
	}
	return sp
}

// entityHeader parses an entity's header; a broken one counts as empty,
// which gives the entity the default type.
func entityHeader(raw []byte) textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return textproto.Header{}
	}
	return h
}

// contentType is the lower-case media type and parameters (keys lower
// case, RFC 2047 words in values decoded as go-imap decodes them), or
// defaultType when the header has none or one that does not parse.
func contentType(h textproto.Header, defaultType string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		return defaultType, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || !strings.Contains(mt, "/") {
		return defaultType, map[string]string{}
	}
	return strings.ToLower(mt), decodeParams(params)
}

func disposition(h textproto.Header) *imap.BodyStructureDisposition {
	v := h.Get("Content-Disposition")
	if v == "" {
		return nil
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: strings.ToUpper(d), Params: decodeParams(params)}
}

// decodeParams undoes RFC 2047 words in parameter values, which mail
// programs put there although RFC 2047 forbids it (go-imap does the same
// for a server's BODYSTRUCTURE).
func decodeParams(params map[string]string) map[string]string {
	dec := mime.WordDecoder{CharsetReader: mcharset.Reader}
	for k, v := range params {
		if strings.Contains(v, "=?") {
			if s, err := dec.DecodeHeader(v); err == nil {
				params[k] = s
			}
		}
	}
	return params
}
