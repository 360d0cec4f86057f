import { test } from "node:test";
import assert from "node:assert/strict";
import { forwardRulesRestore, nftRulesScript } from "./network-rules.ts";

const nets = [
  { bridge: "gantry0", subnet: "172.30.0.0/16", internal: false },
  { bridge: "gt-a", subnet: "10.231.0.0/24", internal: false },
  { bridge: "gt-i", subnet: "10.231.1.0/24", internal: true },
];

test("nft: internal bridges forward nothing, user bridges not to each other except DNAT", () => {
  const script = nftRulesScript("gantry-x", nets);
  assert.match(script, /^table inet gantry-x\ndelete table inet gantry-x\ntable inet gantry-x \{/);
  assert.match(
    script,
    /iifname "gt-i" oifname != "gt-i" drop\n\s+oifname "gt-i" iifname != "gt-i" drop\n\s+ct status dnat accept\n/,
  );
  assert.match(script, /iifname "gantry0" oifname \{ "gt-a", "gt-i" \} drop/);
});

test("nft: one masquerade rule per non-internal network, none for an internal one", () => {
  const script = nftRulesScript("gantry-x", nets);
  assert.match(script, /type nat hook postrouting priority srcnat; policy accept;/);
  assert.match(script, /ip saddr 172\.30\.0\.0\/16 ip daddr != 172\.30\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade/);
  assert.match(script, /ip saddr 10\.231\.0\.0\/24 ip daddr != 10\.231\.0\.0\/24 ip daddr != 224\.0\.0\.0\/4 masquerade/);
  assert.doesNotMatch(script, /10\.231\.1\.0/);
  // one ordinary network: no isolation chain, only its masquerade
  const one = nftRulesScript("gantry-x", [nets[0]!]);
  assert.doesNotMatch(one, /chain forward/);
  assert.match(one, /chain postrouting/);
  // no network: the table just goes
  assert.equal(nftRulesScript("gantry-x", []), "table inet gantry-x\ndelete table inet gantry-x\n");
});

test("nft: a node's pod network reaches the cluster's pod CIDR unmasqueraded, the rest masqueraded", () => {
  const script = nftRulesScript("gantry-x", [{ bridge: "gantrypods0", subnet: "10.42.3.0/24", internal: false, noMasqueradeTo: "10.42.0.0/16" }]);
  assert.match(script, /ip saddr 10\.42\.3\.0\/24 ip daddr != 10\.42\.3\.0\/24 ip daddr != 10\.42\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade/);
});

test("iptables: the FORWARD accept pair of every non-internal bridge in one restore", () => {
  assert.equal(
    forwardRulesRestore("GANTRY-x", nets),
    [
      "*filter",
      ":GANTRY-x - [0:0]",
      "-A GANTRY-x -o gantry0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A GANTRY-x -i gantry0 -j ACCEPT",
      "-A GANTRY-x -o gt-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A GANTRY-x -i gt-a -j ACCEPT",
      "COMMIT",
      "",
    ].join("\n"),
  );
});
