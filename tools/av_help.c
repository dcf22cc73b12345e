/*
 * attest-verify --help and --version.  One text per subcommand, so that a
 * new subcommand adds its own block; the input formats come last.
 */

#include <stdio.h>

#include "attest_version.h"
#include "cli.h"


static const char  *cli_help_head =
    "attest-verify " ATTEST_VERSION " - io.net attestation reports and "
    "signed responses,\n"
    "verified offline with the code of ngx_http_attest_module.\n"
    "\n"
    "usage:\n"
    "  attest-verify COMMAND [OPTIONS] FILE...\n"
    "  attest-verify --help | --version\n"
    "\n"
    "commands:\n";

static const char  *cli_help_cmds[] = {

    "  response --signer 0xADDR --headers FILE --body FILE\n"
    "           [--image-digest sha256:HEX]\n"
    "      One signed completion, JSON or SSE stream: signing_algo, the\n"
    "      signature over \"text\", the signer, the image digest and the\n"
    "      response hash of the body.\n",

    "  report --nonce HEX [--gpu-root FILE] [--cpu-root FILE]\n"
    "         [--report-data nonce|address_nonce] [--image-digest D]... FILE\n"
    "      One attestation report: the nonce echo, the image digest, the\n"
    "      GPU evidence (with --gpu-root) and the TDX quote (with\n"
    "      --cpu-root).  Prints the signer, the digest, the GPU versions,\n"
    "      the whole MRTD and RTMR0..3, and how the signer is bound.\n",

    "  pin [--nonce HEX] [--gpu-root FILE] [--cpu-root FILE]\n"
    "      [--report-data nonce|address_nonce] FILE...\n"
    "      Verifies one or more reports as \"report\" does, then prints the\n"
    "      attest_image_digest, attest_gpu_driver, attest_gpu_vbios,\n"
    "      attest_tdx_mrtd and attest_tdx_rtmr lines that accept them, to\n"
    "      paste into nginx.conf.  Without --nonce each report's own nonce\n"
    "      is used (its freshness is then not checked).  Values that no\n"
    "      root verified are printed commented out.\n",

    "  gpu --nonce HEX --root FILE [--driver V] [--vbios V] EVIDENCE CERTS\n"
    "      One NVIDIA Hopper evidence entry: the certificate chain to the\n"
    "      root, the SPDM signature, the nonce, the FWID, the versions.\n",

    "  tdx --root FILE [--report-data HEX] [--mrtd HEX] [--time SECONDS]\n"
    "      QUOTE\n"
    "      One Intel TDX quote: its signatures, the PCK chain to the root,\n"
    "      report_data and MRTD; prints MRTD, RTMR0..3 and report_data.\n",

    "  request [--max-size BYTES] FILE|-\n"
    "      A chat completion request body (a file, or - for stdin): its\n"
    "      canonical form as io.net's agent hashes it, and the hash, the\n"
    "      request half of the signed \"text\".\n",

    NULL
};

static const char  *cli_help_tail =
    "\n"
    "input formats:\n"
    "  --headers FILE  the response's headers as \"curl -D FILE\" saves them\n"
    "                  (status lines, CRLF; when several blocks, the last\n"
    "                  value of a header wins) or plain \"name: value\"\n"
    "                  lines.  A JSON answer needs text, signature,\n"
    "                  signing_address and signing_algo; a stream needs\n"
    "                  none (its signature is an event of the body).\n"
    "  --body FILE     the body exactly as received, identity-encoded\n"
    "                  (curl -o FILE, without --compressed).  A\n"
    "                  text/event-stream body (by Content-Type, or when it\n"
    "                  starts with \"data:\") is verified as a stream: the\n"
    "                  whole SSE text, with its \"event: signature\" and\n"
    "                  \"data: [DONE]\".\n"
    "  FILE (report, pin)  the JSON answer of POST /v1/private/attestation\n"
    "                  with {\"model_id\": ..., \"nonce\": HEX}, as\n"
    "                  received.\n"
    "  EVIDENCE        a report's gpu.evidence_list[i].evidence: base64 (as\n"
    "                  in the report), hex or raw SPDM bytes.\n"
    "  CERTS           its \"certificate\": base64 of a PEM chain, or PEM.\n"
    "  QUOTE           a TDX quote: hex (a report's cpu.quote), base64 or\n"
    "                  raw bytes.\n"
    "  --nonce HEX     the 32-byte nonce sent for the report: 64 hex digits,\n"
    "                  0x allowed.\n"
    "  --report-data   tdx: the 64-byte report_data, or a 32-byte nonce\n"
    "                  (io.net: nonce || 32 zero bytes).\n"
    "  --gpu-root, --cpu-root, --root FILE  the PEM of the pinned NVIDIA\n"
    "                  Device Identity CA or Intel SGX Root CA (shipped in\n"
    "                  conf-examples/).\n"
    "  --signer 0xADDR the attested signing address, 0x + 40 hex, any case.\n"
    "  --image-digest  sha256: and 64 hex digits.\n"
    "\n"
    "a report to pin from, fetched from io.net:\n"
    "  nonce=$(openssl rand -hex 32)\n"
    "  curl -s https://api.intelligence.io.net/v1/private/attestation \\\n"
    "      -H \"Authorization: Bearer $IONET_API_KEY\" \\\n"
    "      -H 'Content-Type: application/json' \\\n"
    "      -d \"{\\\"model_id\\\":\\\"$MODEL_ID\\\",\\\"nonce\\\":"
    "\\\"$nonce\\\"}\" > report.json\n"
    "  attest-verify pin --nonce $nonce --gpu-root "
    "nvidia_device_identity_root.pem \\\n"
    "      --cpu-root intel_sgx_root_ca.pem report.json\n"
    "\n"
    "exit status: 0 verified (pin: lines printed), 1 \"failed: <reason>\"\n"
    "with a sentence and the failed check, 2 usage error.\n";


int
cli_help(void)
{
    int  i;

    fputs(cli_help_head, stdout);

    for (i = 0; cli_help_cmds[i] != NULL; i++) {
        fputs(cli_help_cmds[i], stdout);
    }

    fputs(cli_help_tail, stdout);

    return CLI_VERIFIED;
}


int
cli_version(void)
{
    printf("attest-verify %s (ngx_http_attest_module)\n", ATTEST_VERSION);

    return CLI_VERIFIED;
}
