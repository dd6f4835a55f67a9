// The preset zlib dictionary of SPDY/3 header compression (draft 3, section
// 2.6.10.1). Both ends must use exactly these 1423 bytes: zlib puts the
// dictionary's Adler-32 in the stream header, and a peer with other bytes
// fails with "bad dictionary" on the first SYN_STREAM.
//
// The draft lists it as a byte array. Its first part is a run of words, each
// prefixed with its length as a 32-bit big-endian integer (the same encoding
// header blocks use, which is why it compresses them well); the rest is raw
// text with no separators. We build it from that structure rather than
// embedding an opaque blob, and the tests pin its length and Adler-32.

const LENGTH_PREFIXED_WORDS = [
  'options',
  'head',
  'post',
  'put',
  'delete',
  'trace',
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'age',
  'allow',
  'authorization',
  'cache-control',
  'connection',
  'content-base',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'etag',
  'expect',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'pragma',
  'proxy-authenticate',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'server',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'vary',
  'via',
  'warning',
  'www-authenticate',
  'method',
  'get',
  'status',
  '200 OK',
  'version',
  'HTTP/1.1',
  'url',
  'public',
  'set-cookie',
  'keep-alive',
  'origin',
];

const RAW_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information' +
  '204 No Content' +
  '301 Moved Permanently' +
  '400 Bad Request' +
  '401 Unauthorized' +
  '403 Forbidden' +
  '404 Not Found' +
  '500 Internal Server Error' +
  '501 Not Implemented' +
  '503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,' +
  'text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch' +
  'charset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

function buildDictionary(): Buffer {
  const parts: Buffer[] = [];
  for (const word of LENGTH_PREFIXED_WORDS) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(word.length, 0);
    parts.push(len, Buffer.from(word, 'latin1'));
  }
  parts.push(Buffer.from(RAW_TAIL, 'latin1'));
  return Buffer.concat(parts);
}

/** The SPDY/3 header-compression dictionary (1423 bytes). Do not mutate. */
export const SPDY3_DICTIONARY: Buffer = buildDictionary();
