import { test } from "node:test";
import assert from "node:assert/strict";
import { addQuantities, compareQuantities, formatQuantity, parseQuantity, quantityMilliValue, quantityValue } from "./quantity.ts";

test("cpu quantities become millicores, rounded up as MilliValue does", () => {
  assert.equal(quantityMilliValue("100m"), 100);
  assert.equal(quantityMilliValue("1"), 1000);
  assert.equal(quantityMilliValue("0.1"), 100);
  assert.equal(quantityMilliValue("1.5"), 1500);
  assert.equal(quantityMilliValue(".5"), 500);
  assert.equal(quantityMilliValue("0.5m"), 1);
  assert.equal(quantityMilliValue("250000u"), 250);
  assert.equal(quantityMilliValue(2), 2000);
  assert.equal(quantityMilliValue("1e-3"), 1);
});

test("memory quantities become bytes with binary, decimal and exponent suffixes", () => {
  assert.equal(quantityValue("128Mi"), 128 * 1024 * 1024);
  assert.equal(quantityValue("1Gi"), 2 ** 30);
  assert.equal(quantityValue("1.5Gi"), 1.5 * 2 ** 30);
  assert.equal(quantityValue("1G"), 1e9);
  assert.equal(quantityValue("2k"), 2000);
  assert.equal(quantityValue("2e3"), 2000);
  assert.equal(quantityValue("1E6"), 1e6);
  assert.equal(quantityValue("128974848"), 128974848);
  assert.equal(quantityValue("110"), 110);
  assert.equal(quantityValue("100m"), 1, "a fraction of a byte rounds up");
});

test("what is not a quantity is refused by the parser and counts as nothing", () => {
  for (const bad of ["", "abc", "1.2.3", "Mi", "1mi", "1KiB", "--1", "1e", "1e999", null, undefined, {}, Number.NaN]) {
    assert.equal(parseQuantity(bad), undefined, String(bad));
    assert.equal(quantityValue(bad), 0);
  }
  assert.deepEqual(parseQuantity("-1"), { num: -1n, den: 1n });
  assert.equal(quantityMilliValue("-100m"), -100);
});

test("formatQuantity prints Kubernetes' canonical forms, binary when asked and whole", () => {
  const f = (s: string, binary = false) => formatQuantity(parseQuantity(s)!, binary);
  assert.equal(f("0.5"), "500m");
  assert.equal(f("2000"), "2k");
  assert.equal(f("1500"), "1500");
  assert.equal(f("0"), "0");
  assert.equal(f("1536Mi", true), "1536Mi");
  assert.equal(f("1.5Gi", true), "1536Mi");
  assert.equal(f("2Gi", true), "2Gi");
  assert.equal(f("1000", true), "1k");
  assert.equal(f("0.5Ki", true), "512");
  assert.equal(formatQuantity(addQuantities(parseQuantity("300m")!, parseQuantity("700m")!)), "1");
  assert.equal(compareQuantities(parseQuantity("1Gi")!, parseQuantity("1073741824")!), 0);
  assert.equal(compareQuantities(parseQuantity("999m")!, parseQuantity("1")!), -1);
});
