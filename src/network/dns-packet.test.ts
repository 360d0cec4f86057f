import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildQuery,
  buildResponse,
  parseAnswers,
  parseQuery,
  QTYPE,
  RCODE,
  addressOfReverseName,
  reverseName,
  ipv6Bytes,
} from "./dns-packet.ts";
import dnsPacket from "dns-packet";
import { EmbeddedDnsServer } from "./dns-server.ts";

test("a query round-trips and an A answer parses back", () => {
  const q = parseQuery(buildQuery(0x1234, "Web.Net.", QTYPE.A));
  assert.equal(q.name, "web.net");
  assert.equal(q.type, QTYPE.A);
  const r = parseAnswers(
    buildResponse(q, RCODE.NOERROR, [{ type: "A", name: q.name, address: "10.231.1.2", ttl: 5 }]),
  );
  assert.deepEqual(r, { id: 0x1234, rcode: 0, addresses: ["10.231.1.2"] });
  assert.equal(addressOfReverseName(reverseName("10.231.1.2")), "10.231.1.2");
});

test("garbage gets no answer; unknown names are REFUSED without upstreams; AAAA of a known name is empty", async () => {
  const s = new EmbeddedDnsServer("127.0.0.1", {
    lookup: (n, _client, family) => (n === "web" && family === 4 ? ["10.231.1.2"] : []),
    reverse: () => undefined,
    upstreams: () => [],
  });
  assert.equal(await s.answer(Buffer.from([1, 2, 3]), "10.231.1.3"), undefined);
  const nx = parseAnswers((await s.answer(buildQuery(1, "nope", QTYPE.A), "x"))!);
  assert.equal(nx.rcode, RCODE.REFUSED);
  const aaaa = parseAnswers((await s.answer(buildQuery(2, "web", QTYPE.AAAA), "x"))!);
  assert.deepEqual([aaaa.rcode, aaaa.addresses], [0, []]);
  const a = parseAnswers((await s.answer(buildQuery(3, "web", QTYPE.A), "x"))!);
  assert.deepEqual(a.addresses, ["10.231.1.2"]);
});

test("AAAA queries of a name with IPv6 addresses are answered (decoded by the dns-packet library); A stays IPv4", async () => {
  const s = new EmbeddedDnsServer("127.0.0.1", {
    lookup: (n, _client, family) => (n !== "six" ? [] : family === 6 ? ["fd00:247:85::3", "fd00::1:0:0:5"] : ["10.247.85.3"]),
    reverse: () => undefined,
    upstreams: () => [],
  });
  const raw = (await s.answer(buildQuery(7, "six", QTYPE.AAAA), "x"))!;
  assert.equal(parseAnswers(raw).rcode, RCODE.NOERROR);
  const reply = dnsPacket.decode(raw);
  const records = (answers: dnsPacket.Answer[] | undefined) => (answers ?? []).map((x) => [x.type, (x as { data: unknown }).data]);
  assert.deepEqual(
    records(reply.answers),
    [
      ["AAAA", "fd00:247:85::3"],
      ["AAAA", "fd00::1:0:0:5"],
    ],
  );
  const a = dnsPacket.decode((await s.answer(buildQuery(8, "six", QTYPE.A), "x"))!);
  assert.deepEqual(records(a.answers), [["A", "10.247.85.3"]]);
  assert.throws(() => ipv6Bytes("fd00::1::2"), /is not an IPv6 address/);
  assert.throws(() => ipv6Bytes("10.0.0.1"), /is not an IPv6 address/);
  assert.deepEqual([...ipv6Bytes("::1")], [...Buffer.alloc(15), 1]);
});
