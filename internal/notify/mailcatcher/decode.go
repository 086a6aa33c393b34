package mailcatcher

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// maxDepth bounds multipart nesting (mixed > alternative > related is 3).
const maxDepth = 8

// decode fills Subject, MessageID, Text and HTML of r from r.Raw. It keeps what it decoded
// before an error.
func decode(r *Received) error {
	msg, err := mail.ReadMessage(bytes.NewReader(r.Raw))
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	r.MessageID = strings.TrimSpace(msg.Header.Get("Message-Id"))
	subject := msg.Header.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = dec
	}
	r.Subject = subject
	return decodeEntity(r, textproto.MIMEHeader(msg.Header), msg.Body, 0)
}

// decodeEntity decodes one MIME entity: a text/plain or text/html leaf fills Text or HTML (the
// first of each wins), a multipart entity is walked part by part, anything else is skipped.
func decodeEntity(r *Received, h textproto.MIMEHeader, body io.Reader, depth int) error {
	if depth > maxDepth {
		return errors.New("multipart nesting too deep")
	}
	ctype := h.Get("Content-Type")
	if ctype == "" {
		ctype = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ctype, err)
	}

	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart: decode the transfer encoding here, the same way for every part.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := decodeEntity(r, p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}

	var dst *string
	switch mediaType {
	case "text/plain":
		dst = &r.Text
	case "text/html":
		dst = &r.HTML
	default:
		return nil
	}
	if *dst != "" || strings.HasPrefix(strings.ToLower(h.Get("Content-Disposition")), "attachment") {
		return nil
	}
	b, err := io.ReadAll(transferDecoder(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		return fmt.Errorf("%s body: %w", mediaType, err)
	}
	// UTF-8 and US-ASCII are kept as they are (vpnbill writes nothing else); line endings
	// become "\n" so that tests and the demo can compare and print the text directly.
	*dst = strings.ReplaceAll(string(b), "\r\n", "\n")
	return nil
}

func transferDecoder(cte string, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, body) // skips CR and LF
	default: // 7bit, 8bit, binary
		return body
	}
}
