//! Kernel TLS: after rustls's handshake, the session's traffic keys go to
//! the kernel (`TCP_ULP` "tls", then `SOL_TLS` `TLS_TX` and `TLS_RX`), and
//! HTTP runs over the plain socket: the kernel encrypts responses and
//! decrypts requests, so a large GET's bytes never pass through rustls.
//!
//! Where the kernel has no TLS module (`tcp_available_ulp` without "tls")
//! or refuses the negotiated suite, rustls keeps the session in user space;
//! which suites the kernel takes is probed once per process, at start-up.
//!
//! Nothing the client sent may be lost at the hand-over: during the
//! handshake [`Cork`] gives rustls never a byte past the record it is
//! reading. The handshake's last read may still start the record after the
//! client's Finished (its first request); [`drain`] finishes that record
//! through rustls, and its plaintext is served first. Everything after it
//! is still in the socket for the kernel to decrypt. Records rustls queued
//! (TLS 1.3 session tickets) are flushed by the handshake itself; rustls
//! refuses to hand over while any is left.

use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rustls::{ConnectionTrafficSecrets, ProtocolVersion};
use zeroize::Zeroize;

use crate::runtime::net::{AsyncRead, AsyncWrite, ReadBuf};

/// `linux/tls.h`.
const TLS_TX: libc::c_int = 1;
const TLS_RX: libc::c_int = 2;
const TLS_SET_RECORD_TYPE: libc::c_int = 1;
const TLS_GET_RECORD_TYPE: libc::c_int = 2;
const TLS_1_2_VERSION: u16 = 0x0303;
const TLS_1_3_VERSION: u16 = 0x0304;
const TLS_CIPHER_AES_GCM_128: u16 = 51;
const TLS_CIPHER_AES_GCM_256: u16 = 52;
const TLS_CIPHER_CHACHA20_POLY1305: u16 = 54;

/// TLS record content types (RFC 8446, 5.1).
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
/// A TLS record header: type, version, length.
const RECORD_HEADER: usize = 5;

/// The AEADs kTLS takes from rustls, as `linux/tls.h` numbers them.
const CIPHERS: [u16; 3] = [
    TLS_CIPHER_AES_GCM_128,
    TLS_CIPHER_AES_GCM_256,
    TLS_CIPHER_CHACHA20_POLY1305,
];
const VERSIONS: [u16; 2] = [TLS_1_2_VERSION, TLS_1_3_VERSION];

/// The (version, cipher) pairs the kernel accepted at the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Suites(u8);

impl Suites {
    fn bit(version: u16, cipher: u16) -> Option<u8> {
        let v = VERSIONS.iter().position(|&x| x == version)?;
        let c = CIPHERS.iter().position(|&x| x == cipher)?;
        Some(1 << (v * CIPHERS.len() + c))
    }

    fn insert(&mut self, version: u16, cipher: u16) {
        if let Some(b) = Self::bit(version, cipher) {
            self.0 |= b;
        }
    }

    pub fn contains(&self, version: u16, cipher: u16) -> bool {
        Self::bit(version, cipher).is_some_and(|b| self.0 & b != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// E.g. `TLS1.3/AES-128-GCM TLS1.3/AES-256-GCM`, for the start-up log.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        for v in VERSIONS {
            for c in CIPHERS {
                if self.contains(v, c) {
                    out.push(format!("{}/{}", version_name(v), cipher_name(c)));
                }
            }
        }
        out.join(" ")
    }
}

fn version_name(v: u16) -> &'static str {
    if v == TLS_1_3_VERSION {
        "TLS1.3"
    } else {
        "TLS1.2"
    }
}

fn cipher_name(c: u16) -> &'static str {
    match c {
        TLS_CIPHER_AES_GCM_128 => "AES-128-GCM",
        TLS_CIPHER_AES_GCM_256 => "AES-256-GCM",
        _ => "CHACHA20-POLY1305",
    }
}

/// The kernel's number for a rustls protocol version.
pub fn kernel_version(v: ProtocolVersion) -> Option<u16> {
    match v {
        ProtocolVersion::TLSv1_2 => Some(TLS_1_2_VERSION),
        ProtocolVersion::TLSv1_3 => Some(TLS_1_3_VERSION),
        _ => None,
    }
}

/// The kernel's number for a rustls cipher suite's AEAD.
pub fn kernel_cipher(suite: rustls::CipherSuite) -> Option<u16> {
    use rustls::CipherSuite as S;
    match suite {
        S::TLS13_AES_128_GCM_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(TLS_CIPHER_AES_GCM_128),
        S::TLS13_AES_256_GCM_SHA384
        | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(TLS_CIPHER_AES_GCM_256),
        S::TLS13_CHACHA20_POLY1305_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(TLS_CIPHER_CHACHA20_POLY1305),
        _ => None,
    }
}

/// One direction's `struct tls12_crypto_info_*`, as the bytes
/// `setsockopt(SOL_TLS, TLS_TX or TLS_RX)` takes: version and cipher
/// (native-endian u16s), then, for AES-GCM, the explicit IV (the last 8
/// bytes of rustls's 12), the key, the salt (the first 4) and the record
/// sequence number (big-endian); for ChaCha20-Poly1305, the whole 12-byte
/// IV, the key and the sequence number. Wiped when dropped.
pub struct CryptoInfo(Vec<u8>);

impl Drop for CryptoInfo {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl CryptoInfo {
    pub fn new(version: u16, seq: u64, secrets: &ConnectionTrafficSecrets) -> io::Result<Self> {
        let (cipher, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
                (TLS_CIPHER_AES_GCM_128, key.as_ref(), iv.as_ref())
            }
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
                (TLS_CIPHER_AES_GCM_256, key.as_ref(), iv.as_ref())
            }
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (TLS_CIPHER_CHACHA20_POLY1305, key.as_ref(), iv.as_ref())
            }
            _ => return Err(unsupported("a cipher kTLS does not take")),
        };
        Self::build(version, cipher, key, iv, seq)
    }

    fn build(version: u16, cipher: u16, key: &[u8], iv: &[u8], seq: u64) -> io::Result<Self> {
        let key_len = if cipher == TLS_CIPHER_AES_GCM_128 {
            16
        } else {
            32
        };
        if key.len() != key_len || iv.len() != 12 {
            return Err(unsupported("a key or IV of an unexpected length"));
        }
        let mut b = Vec::with_capacity(56);
        b.extend_from_slice(&version.to_ne_bytes());
        b.extend_from_slice(&cipher.to_ne_bytes());
        if cipher == TLS_CIPHER_CHACHA20_POLY1305 {
            b.extend_from_slice(iv);
            b.extend_from_slice(key);
        } else {
            b.extend_from_slice(&iv[4..]);
            b.extend_from_slice(key);
            b.extend_from_slice(&iv[..4]);
        }
        b.extend_from_slice(&seq.to_be_bytes());
        Ok(CryptoInfo(b))
    }

    /// An all-zero key of the suite, for the probe.
    fn zero(version: u16, cipher: u16) -> io::Result<Self> {
        let key = [0u8; 32];
        let key_len = if cipher == TLS_CIPHER_AES_GCM_128 {
            16
        } else {
            32
        };
        Self::build(version, cipher, &key[..key_len], &[0; 12], 0)
    }

    fn set(&self, fd: RawFd, direction: libc::c_int) -> io::Result<()> {
        setsockopt(fd, libc::SOL_TLS, direction, &self.0)
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("kTLS: {what}"))
}

fn setsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is a live buffer of the length passed; the kernel
    // copies it and keeps no pointer.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Attaches the kernel's TLS layer to a connected TCP socket.
fn attach_ulp(fd: RawFd) -> io::Result<()> {
    setsockopt(fd, libc::SOL_TCP, libc::TCP_ULP, b"tls")
}

/// Which suites this kernel runs, tried on loopback sockets with zero keys;
/// an error says why none (the module is missing, say).
pub fn probe() -> Result<Suites, String> {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut suites = Suites::default();
    for version in VERSIONS {
        for cipher in CIPHERS {
            let client = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
            let (_server, _) = listener.accept().map_err(|e| e.to_string())?;
            let fd = client.as_raw_fd();
            if let Err(e) = attach_ulp(fd) {
                return Err(if e.raw_os_error() == Some(libc::ENOENT) {
                    "the kernel has no TLS module (no \"tls\" in \
                     /proc/sys/net/ipv4/tcp_available_ulp; try `modprobe tls`)"
                        .to_owned()
                } else {
                    format!("TCP_ULP \"tls\" refused: {e}")
                });
            }
            let info = CryptoInfo::zero(version, cipher).map_err(|e| e.to_string())?;
            if info.set(fd, TLS_TX).is_ok() && info.set(fd, TLS_RX).is_ok() {
                suites.insert(version, cipher);
            }
        }
    }
    if suites.is_empty() {
        return Err("the kernel's TLS module takes none of rustls's ciphers".into());
    }
    Ok(suites)
}

/// Hands a finished session to the kernel: attaches the TLS layer and sets
/// both directions' keys. After an error the socket can carry neither
/// plain TCP nor TLS any more: close it.
pub fn install(fd: RawFd, version: u16, secrets: rustls::ExtractedSecrets) -> io::Result<()> {
    let (tx_seq, tx) = secrets.tx;
    let (rx_seq, rx) = secrets.rx;
    let tx = CryptoInfo::new(version, tx_seq, &tx)?;
    let rx = CryptoInfo::new(version, rx_seq, &rx)?;
    attach_ulp(fd)?;
    tx.set(fd, TLS_TX)?;
    rx.set(fd, TLS_RX)
}

/// What a record that is not application data means to the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Control {
    /// The client's close_notify: the clean end of its requests.
    CloseNotify,
    /// Anything else ends the connection.
    Refused(&'static str),
}

/// A record of type `kind` (not application data) with its body.
pub fn control(kind: u8, body: &[u8]) -> Control {
    match (kind, body) {
        // Level then description; close_notify is 0 (TLS 1.3 ignores the
        // level).
        (ALERT, [_, 0]) => Control::CloseNotify,
        (ALERT, _) => Control::Refused("an alert from the client"),
        // KeyUpdate and other post-handshake messages need rustls.
        (HANDSHAKE, _) => Control::Refused("a handshake message after the handshake"),
        (CHANGE_CIPHER_SPEC, _) => Control::Refused("a change_cipher_spec after the handshake"),
        _ => Control::Refused("a record of an unknown type"),
    }
}

/// Reads one record with its type (`recvmsg` with room for the
/// `TLS_GET_RECORD_TYPE` control message): what a plain read of a kTLS
/// socket refuses with EIO when the record is not application data.
fn recv_record(fd: RawFd, buf: &mut [u8]) -> io::Result<(u8, usize)> {
    // u64s: aligned for the cmsghdr the kernel writes.
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: `msg` points at `iov` (over `buf`) and `cbuf`, all live for
    // the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled `msg`'s control buffer; CMSG_FIRSTHDR and
    // CMSG_NXTHDR stay within msg_controllen.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !c.is_null() {
        // SAFETY: `c` is a header inside the control buffer (above).
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_TLS && h.cmsg_type == TLS_GET_RECORD_TYPE {
            // SAFETY: this message's data is the one-byte record type.
            let kind = unsafe { *libc::CMSG_DATA(c) };
            return Ok((kind, n as usize));
        }
        // SAFETY: as above.
        c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
    }
    Ok((APPLICATION_DATA, n as usize))
}

/// Sends a close_notify alert (`sendmsg` with `TLS_SET_RECORD_TYPE`);
/// best effort, as rustls's on shutdown.
fn send_close_notify(fd: RawFd) -> io::Result<()> {
    let mut cbuf = [0u64; 8];
    // Level warning (1), close_notify (0).
    let mut body = [1u8, 0u8];
    let mut iov = libc::iovec {
        iov_base: body.as_mut_ptr().cast(),
        iov_len: body.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(1) } as _;
    // SAFETY: the control buffer holds CMSG_SPACE(1) bytes (64 >= 24), so
    // the first header and its one data byte are inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_TLS;
        (*c).cmsg_type = TLS_SET_RECORD_TYPE;
        (*c).cmsg_len = libc::CMSG_LEN(1) as _;
        *libc::CMSG_DATA(c) = ALERT;
    }
    // SAFETY: `msg` points at `iov` (over `body`) and `cbuf`, live for the
    // call.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The socket during a handshake that may end in kTLS: every read stops at
/// the end of the TLS record being read, so rustls never takes bytes of
/// records after the handshake. Writes pass through. [`Cork::uncork`]
/// turns it into a plain pass-through (the session stays in rustls).
pub struct Cork<T> {
    inner: T,
    corked: bool,
    header: [u8; RECORD_HEADER],
    /// Header bytes of the next record read so far.
    have: usize,
    /// Body bytes of the current record still to read.
    body_left: usize,
}

impl<T> Cork<T> {
    pub fn new(inner: T) -> Self {
        Cork {
            inner,
            corked: true,
            header: [0; RECORD_HEADER],
            have: 0,
            body_left: 0,
        }
    }

    pub fn uncork(&mut self) {
        self.corked = false;
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Whether rustls holds part of a record: the handshake's last read
    /// took the header or part of the body of the record after it.
    pub fn mid_record(&self) -> bool {
        self.corked && (self.have > 0 || self.body_left > 0)
    }

    /// How many bytes the next read may take.
    fn limit(&self) -> usize {
        if self.body_left > 0 {
            self.body_left
        } else {
            RECORD_HEADER - self.have
        }
    }

    /// Accounts for `got`, the bytes just read (at most `limit()`).
    fn advance(&mut self, got: &[u8]) {
        if self.body_left > 0 {
            self.body_left -= got.len();
            return;
        }
        self.header[self.have..self.have + got.len()].copy_from_slice(got);
        self.have += got.len();
        if self.have == RECORD_HEADER {
            self.have = 0;
            self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Cork<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.corked {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let start = buf.filled().len();
        let n = {
            let mut part = buf.take(this.limit());
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
            part.filled().len()
        };
        // SAFETY: the read filled (so initialised) these n bytes of buf's
        // unfilled part, through `part`, which views that memory.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        this.advance(&buf.filled()[start..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Cork<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads through rustls until the cork sits between two records, keeping
/// the plaintext (see the module's comment).
pub async fn drain<S>(
    session: &mut S,
    cork: impl Fn(&S) -> bool,
    early: &mut Vec<u8>,
) -> io::Result<()>
where
    S: AsyncRead + Unpin,
{
    let mut space = vec![0u8; 16 << 10];
    while cork(session) {
        let mut buf = ReadBuf::new(&mut space);
        std::future::poll_fn(|cx| Pin::new(&mut *session).poll_read(cx, &mut buf)).await?;
        if buf.filled().is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        early.extend_from_slice(buf.filled());
    }
    Ok(())
}

/// A socket whose TLS the kernel runs: reads and writes are plaintext.
/// Plaintext rustls had already decrypted comes first; a control record
/// (which a plain read refuses with EIO) is read with its type: the
/// client's close_notify ends the stream, anything else fails it.
pub struct KernelTls<T> {
    inner: T,
    fd: RawFd,
    early: Vec<u8>,
    eof: bool,
    notified: bool,
}

impl<T> KernelTls<T> {
    pub fn new(inner: T, fd: RawFd, early: Vec<u8>) -> Self {
        KernelTls {
            inner,
            fd,
            early,
            eof: false,
            notified: false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for KernelTls<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.early.is_empty() {
            let n = self.early.len().min(buf.remaining());
            buf.put_slice(&self.early[..n]);
            self.early.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if self.eof {
            return Poll::Ready(Ok(()));
        }
        match ready!(Pin::new(&mut self.inner).poll_read(cx, buf)) {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
            done => return Poll::Ready(done),
        }
        let fd = self.fd;
        let (kind, n) = match recv_record(fd, buf.initialize_unfilled()) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The record is not whole yet: look again.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Err(e) => return Poll::Ready(Err(e)),
        };
        if kind == APPLICATION_DATA {
            buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        let body = &buf.initialize_unfilled()[..n];
        match control(kind, body) {
            Control::CloseNotify => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            Control::Refused(why) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("kTLS: {why}"),
            ))),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for KernelTls<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.notified {
            self.notified = true;
            let _ = send_close_notify(self.fd);
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn crypto_info_is_laid_out_as_linux_tls_h() {
        let key: Vec<u8> = (1..=32).collect();
        let iv: [u8; 12] = std::array::from_fn(|i| 100 + i as u8);
        let seq = 0x0102_0304_0506_0708u64;

        // struct tls12_crypto_info_aes_gcm_128: info, iv[8], key[16], salt[4], rec_seq[8].
        let a = CryptoInfo::build(
            TLS_1_3_VERSION,
            TLS_CIPHER_AES_GCM_128,
            &key[..16],
            &iv,
            seq,
        )
        .unwrap();
        assert_eq!(a.0.len(), 40);
        assert_eq!(a.0[..2], 0x0304u16.to_ne_bytes());
        assert_eq!(a.0[2..4], 51u16.to_ne_bytes());
        assert_eq!(a.0[4..12], iv[4..]);
        assert_eq!(a.0[12..28], key[..16]);
        assert_eq!(a.0[28..32], iv[..4]);
        assert_eq!(a.0[32..], seq.to_be_bytes());

        // aes_gcm_256: info, iv[8], key[32], salt[4], rec_seq[8].
        let b = CryptoInfo::build(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, &key, &iv, seq).unwrap();
        assert_eq!(b.0.len(), 56);
        assert_eq!(b.0[..2], 0x0303u16.to_ne_bytes());
        assert_eq!(b.0[2..4], 52u16.to_ne_bytes());
        assert_eq!(b.0[4..12], iv[4..]);
        assert_eq!(b.0[12..44], key[..]);
        assert_eq!(b.0[44..48], iv[..4]);
        assert_eq!(b.0[48..], seq.to_be_bytes());

        // chacha20_poly1305: info, iv[12], key[32], rec_seq[8] (no salt).
        let c = CryptoInfo::build(
            TLS_1_3_VERSION,
            TLS_CIPHER_CHACHA20_POLY1305,
            &key,
            &iv,
            seq,
        )
        .unwrap();
        assert_eq!(c.0.len(), 56);
        assert_eq!(c.0[2..4], 54u16.to_ne_bytes());
        assert_eq!(c.0[4..16], iv[..]);
        assert_eq!(c.0[16..48], key[..]);
        assert_eq!(c.0[48..], seq.to_be_bytes());

        // A key of the wrong length for its cipher is refused.
        assert!(CryptoInfo::build(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, &key, &iv, 0).is_err());
        assert!(
            CryptoInfo::build(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, &key[..16], &iv, 0).is_err()
        );
        let zero = CryptoInfo::zero(TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128).unwrap();
        assert_eq!(zero.0.len(), 40);
        assert!(zero.0[4..].iter().all(|&b| b == 0));
    }

    /// A full in-memory handshake with `suite`, tickets delivered, and the
    /// secrets both ends extract.
    fn handshake(
        suite: rustls::SupportedCipherSuite,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> (u16, u16, rustls::ExtractedSecrets, rustls::ExtractedSecrets) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = rustls::pki_types::CertificateDer::from(c.cert.der().to_vec());
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::CryptoProvider {
            cipher_suites: vec![suite],
            ..rustls::crypto::ring::default_provider()
        });
        let mut sc = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        sc.enable_secret_extraction = true;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let mut cc = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cc.enable_secret_extraction = true;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(cc), name).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(sc)).unwrap();
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        let v = kernel_version(server.protocol_version().unwrap()).unwrap();
        let cipher = kernel_cipher(server.negotiated_cipher_suite().unwrap().suite()).unwrap();
        (
            v,
            cipher,
            server.dangerous_extract_secrets().unwrap(),
            client.dangerous_extract_secrets().unwrap(),
        )
    }

    #[test]
    fn each_direction_gets_the_peers_keys_and_sequence_number() {
        use rustls::crypto::ring::cipher_suite as cs;
        let cases = [
            (
                cs::TLS13_AES_128_GCM_SHA256,
                &rustls::version::TLS13,
                51,
                40,
            ),
            (
                cs::TLS13_AES_256_GCM_SHA384,
                &rustls::version::TLS13,
                52,
                56,
            ),
            (
                cs::TLS13_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS13,
                54,
                56,
            ),
            (
                cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                &rustls::version::TLS12,
                51,
                40,
            ),
            (
                cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS12,
                54,
                56,
            ),
        ];
        for (suite, version, cipher, len) in cases {
            let (v, c, server, client) = handshake(suite, version);
            assert_eq!(c, cipher, "{suite:?}");
            let s_tx = CryptoInfo::new(v, server.tx.0, &server.tx.1).unwrap();
            let c_rx = CryptoInfo::new(v, client.rx.0, &client.rx.1).unwrap();
            let s_rx = CryptoInfo::new(v, server.rx.0, &server.rx.1).unwrap();
            let c_tx = CryptoInfo::new(v, client.tx.0, &client.tx.1).unwrap();
            assert_eq!(s_tx.0.len(), len, "{suite:?}");
            assert!(s_tx.0 == c_rx.0, "server TX != client RX for {suite:?}");
            assert!(s_rx.0 == c_tx.0, "server RX != client TX for {suite:?}");
            assert!(
                s_tx.0 != s_rx.0,
                "both directions share a key for {suite:?}"
            );
            if v == TLS_1_3_VERSION {
                // The session tickets the server sent count in its sequence.
                assert!(server.tx.0 > 0, "{suite:?}");
            }
        }
    }

    #[test]
    fn only_the_clients_close_notify_ends_the_stream_cleanly() {
        assert_eq!(control(ALERT, &[1, 0]), Control::CloseNotify);
        assert_eq!(control(ALERT, &[2, 0]), Control::CloseNotify);
        assert!(matches!(control(ALERT, &[2, 40]), Control::Refused(_)));
        assert!(matches!(control(ALERT, &[1]), Control::Refused(_)));
        // A KeyUpdate (handshake type 24).
        assert!(matches!(
            control(HANDSHAKE, &[24, 0, 0, 1, 0]),
            Control::Refused(_)
        ));
        assert!(matches!(
            control(CHANGE_CIPHER_SPEC, &[1]),
            Control::Refused(_)
        ));
        assert!(matches!(control(99, &[]), Control::Refused(_)));
    }

    #[test]
    fn suites_remember_what_the_kernel_took() {
        let mut s = Suites::default();
        assert!(s.is_empty());
        s.insert(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256);
        s.insert(TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305);
        s.insert(0x0301, TLS_CIPHER_AES_GCM_128);
        assert!(s.contains(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256));
        assert!(s.contains(TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305));
        assert!(!s.contains(TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128));
        assert!(!s.contains(0x0301, TLS_CIPHER_AES_GCM_128));
        assert_eq!(s.describe(), "TLS1.2/CHACHA20-POLY1305 TLS1.3/AES-256-GCM");
    }

    /// A socket that answers each read with as much of `data` as fits.
    struct Greedy {
        data: Vec<u8>,
    }

    impl AsyncRead for Greedy {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.data.len().min(buf.remaining());
            buf.put_slice(&self.data[..n]);
            self.data.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    fn read_once<T: AsyncRead + Unpin>(r: &mut T, room: usize) -> Vec<u8> {
        let mut space = vec![0u8; room];
        let mut buf = ReadBuf::new(&mut space);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(r).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) => buf.filled().to_vec(),
            other => panic!("read: {other:?}"),
        }
    }

    #[test]
    fn the_cork_never_reads_past_the_record_it_is_in() {
        // A 3-byte handshake record, an empty one, then application data.
        let mut wire = vec![22, 3, 3, 0, 3, 1, 2, 3, 22, 3, 3, 0, 0];
        let app = [23, 3, 3, 0, 2, 9, 9];
        wire.extend_from_slice(&app);
        let mut cork = Cork::new(Greedy { data: wire });
        assert!(!cork.mid_record());
        assert_eq!(read_once(&mut cork, 4096), [22, 3, 3, 0, 3]);
        assert!(cork.mid_record());
        assert_eq!(read_once(&mut cork, 2), [1, 2]);
        assert_eq!(read_once(&mut cork, 4096), [3]);
        assert!(!cork.mid_record());
        assert_eq!(read_once(&mut cork, 3), [22, 3, 3]);
        assert!(cork.mid_record(), "part of a header");
        assert_eq!(read_once(&mut cork, 4096), [0, 0]);
        assert!(
            !cork.mid_record(),
            "an empty record is whole with its header"
        );
        // What follows the handshake stays in the socket.
        assert_eq!(cork.inner.data, app);
        // Uncorked, reads take all there is.
        cork.uncork();
        assert_eq!(read_once(&mut cork, 4096), app);
        assert_eq!(
            read_once(&mut cork, 4096),
            Vec::<u8>::new(),
            "end of stream"
        );
    }

    #[test]
    fn early_plaintext_is_read_first() {
        let mut k = KernelTls::new(
            Greedy {
                data: b"rest".to_vec(),
            },
            -1,
            b"GET / HTTP/1.1\r\n".to_vec(),
        );
        assert_eq!(read_once(&mut k, 4), b"GET ");
        assert_eq!(read_once(&mut k, 4096), b"/ HTTP/1.1\r\n");
        assert_eq!(read_once(&mut k, 4096), b"rest");
    }
}
