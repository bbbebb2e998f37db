# Splits a folded profile (inferno-collapse-perf output: "frame;frame;... N")
# into the stages of a request: the first rule whose pattern matches any frame
# of a stack takes its samples, so the order below is the priority (HMAC before
# SHA-256: an HMAC is SHA-256 underneath).
#
#   awk -v msop=4.25 -f perf/stages.awk put.folded
# msop (the server's CPU ms per operation, optional) adds a ms/op column.
BEGIN {
  n = 0
  rule("MD5 (ETag)", "md5|Md5")
  rule("HMAC (chunk signatures)", "hmac|Hmac|verify_chunk")
  rule("SHA-256 (chunk payloads)", "sha2::|Sha256|sha256")
  rule("erasure coding", "reed_solomon")
  rule("crc32c", "crc32c")
  rule("LMDB (companion thread)", "mdb_|heed::|lmdb")
  rule("kernel: network (TCP send/receive, copies to/from user)", "tcp_|skb_|sock_|inet_|__sys_recv|__sys_send|net_rx|netif_|loopback|ip_rcv|ip_finish|__napi|do_softirq")
  rule("kernel: O_DIRECT writes, fdatasync, block layer", "iomap|ext4_|blk_|bio_|virtio|jbd2|fdatasync|vfs_fsync|dio_")
  rule("kernel: io_uring submission/completion", "io_uring|io_submit_sqes|io_issue_sqe|io_cqring|io_wq|iou-wrk")
  rule("kernel: page faults, zeroing", "page_fault|exc_page|clear_page|do_anonymous|handle_mm_fault")
  rule("kernel: scheduling, idle, syscalls", "schedule|futex|do_syscall_64|entry_SYSCALL|idle|irq")
  rule("memcpy / memmove (user)", "memcpy|memmove|memset")
  rule("allocator", "malloc|_int_free|cfree|realloc|__libc_free|alloc::alloc|_rjem")
  rule("aws-chunked decode", "ChunkedDecoder|chunked::")
  rule("hyper / HTTP", "hyper::|httparse|http::")
  rule("engine write path", "engine::write|engine::segment|StripeBuilder")
  rule("runtime (monoio)", "monoio")
}
function rule(name, pat) { names[n] = name; pats[n] = pat; n++ }
function line(name, c) {
  if (msop) printf "%-58s %5.1f%% %7.3f\n", name, 100 * c / total, msop * c / total
  else printf "%-58s %5.1f%%\n", name, 100 * c / total
}
{
  count = $NF
  stack = $0
  sub(/ [0-9]+$/, "", stack)
  total += count
  for (i = 0; i < n; i++) {
    if (stack ~ pats[i]) { got[i] += count; next }
  }
  other += count
}
END {
  if (total == 0) { print "no samples"; exit }
  printf "%-58s %6s %7s\n", "stage (first match wins)", "%", msop ? "ms/op" : ""
  for (i = 0; i < n; i++)
    if (got[i] > 0) line(names[i], got[i])
  line("other", other)
  line("total", total)
}
