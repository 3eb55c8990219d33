#!/usr/bin/env bash
# Install the external programs the tests talk to, when missing: sipp (Debian sip-tester), chromium
# (the browser tests drive Debian's /usr/bin/chromium; Playwright's own browsers are never
# downloaded), mosquitto (the tests start private brokers), net-snmp's snmptrapd and snmptranslate
# (Debian snmptrapd, snmp) and smilint (Debian smitools) for the MIB, with the IETF modules it imports
# (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF, SNMP-FRAMEWORK-MIB: Debian keeps them out of net-snmp and libsmi
# as non-free; erlang-snmp in main ships them). Idempotent; CI and `make test`
# call it. Nothing is skipped because a tool is absent.
set -euo pipefail

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v snmptrapd >/dev/null 2>&1 || [ -x /usr/sbin/snmptrapd ] || need+=(snmptrapd)
command -v snmptranslate >/dev/null 2>&1 || need+=(snmp)
command -v smilint >/dev/null 2>&1 || need+=(smitools)
ls /usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib >/dev/null 2>&1 || need+=(erlang-snmp)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v sipp >/dev/null
[ -x /usr/bin/chromium ]
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null
[ -x /usr/sbin/snmptrapd ] || command -v snmptrapd >/dev/null
command -v snmptranslate >/dev/null
command -v smilint >/dev/null
ls /usr/lib/erlang/lib/snmp-*/mibs/SNMP-FRAMEWORK-MIB.mib >/dev/null
