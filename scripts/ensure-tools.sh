#!/usr/bin/env bash
# Install the external programs the tests talk to, when missing: sipp (Debian sip-tester), chromium
# (the browser tests drive Debian's /usr/bin/chromium; Playwright's own browsers are never
# downloaded), mosquitto (the tests start private brokers), net-snmp's snmptrapd and snmptranslate
# (Debian snmptrapd, snmp), kamailio (the SIP dispatcher in front of two workers) and smilint
# (Debian smitools) for the MIB, with the IETF modules it imports (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF,
# SNMP-FRAMEWORK-MIB: Debian keeps them out of net-snmp and libsmi as non-free; erlang-snmp in main
# ships them). Idempotent; CI and `make test`
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
# kamailio: the SIP dispatcher in front of two workers (tests/e2e/test_dispatcher.py); Debian's main
# package ships dispatcher.so, tm.so and the other modules the test loads
[ -x /usr/sbin/kamailio ] && [ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/dispatcher.so ] || need+=(kamailio)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's postinst enables and (with systemd) starts a system kamailio on 5060: the tests start
  # their own on free ports, so the system one is stopped and disabled, never left running
  if [[ " ${need[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true
  fi
fi
command -v sipp >/dev/null
[ -x /usr/bin/chromium ]
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null
[ -x /usr/sbin/snmptrapd ] || command -v snmptrapd >/dev/null
command -v snmptranslate >/dev/null
command -v smilint >/dev/null
ls /usr/lib/erlang/lib/snmp-*/mibs/SNMP-FRAMEWORK-MIB.mib >/dev/null
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/dispatcher.so ]
