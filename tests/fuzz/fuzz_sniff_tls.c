/* fuzz_sniff_tls.c — the TLS stream sniffer over arbitrary bytes (tests/fuzz/fuzz_stream.h). */
#include "tests/fuzz/fuzz_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stream(data, size, SNIFF_PROTO_TLS);
    return 0;
}
