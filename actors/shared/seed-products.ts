/**
 * What the shop starts with: a dozen products of a small clothing and outdoor shop, with fixed
 * ids and times so that every instance (and every test) sees the same catalogue. The product
 * actor seeds its catalogue with `seedProducts`, and the inventory actor stocks each product
 * with `seedStock`, from the same rows: one source for both, so a fresh shop sells what it has
 * (the catalogue's `available` then follows the inventory's StockAdjusted events). One product
 * is withdrawn from sale, so `include_inactive` has something to show.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { MoneySchema } from "../../proto/gen/shop/v1/money_pb.ts";
import { type Product, ProductSchema } from "../../proto/gen/shop/v1/product_pb.ts";

interface SeedRow {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  /** EUR cents. */
  readonly priceCents: number;
  readonly available: number;
  readonly active?: boolean;
}

const ROWS: readonly SeedRow[] = [
  {
    id: "p-1001",
    sku: "TSHIRT-ORG-WHT-M",
    name: "Organic cotton T-shirt, white, M",
    description: "Heavyweight 180 g/m² organic cotton, relaxed fit, ribbed crew neck.",
    priceCents: 2490,
    available: 140,
  },
  {
    id: "p-1002",
    sku: "TSHIRT-ORG-BLK-L",
    name: "Organic cotton T-shirt, black, L",
    description: "Heavyweight 180 g/m² organic cotton, relaxed fit, ribbed crew neck.",
    priceCents: 2490,
    available: 95,
  },
  {
    id: "p-1003",
    sku: "HOODIE-MRN-NVY-M",
    name: "Merino hoodie, navy, M",
    description: "Fine merino wool, full zip, two hand pockets; warm without bulk.",
    priceCents: 11900,
    available: 32,
  },
  {
    id: "p-1004",
    sku: "JACKET-RAIN-OLV-L",
    name: "Packable rain jacket, olive, L",
    description: "2.5-layer waterproof shell (20,000 mm), taped seams, packs into its own pocket.",
    priceCents: 14900,
    available: 18,
  },
  {
    id: "p-1005",
    sku: "SOCKS-WOOL-GRY-42",
    name: "Hiking socks, grey, 42-44",
    description: "Cushioned merino blend for long days on the trail. Pair.",
    priceCents: 1690,
    available: 410,
  },
  {
    id: "p-1006",
    sku: "BOOT-HIKE-BRN-43",
    name: "Leather hiking boots, brown, 43",
    description: "Full-grain leather, waterproof membrane, Vibram sole. Resoleable.",
    priceCents: 21900,
    available: 9,
  },
  {
    id: "p-1007",
    sku: "PACK-DAY-25L-BLK",
    name: "Daypack 25 L, black",
    description: 'Recycled nylon, padded laptop sleeve (15"), hip belt, rain cover included.',
    priceCents: 8900,
    available: 57,
  },
  {
    id: "p-1008",
    sku: "BOTTLE-STL-750",
    name: "Insulated bottle 750 ml",
    description: "Double-walled stainless steel; 24 h cold, 12 h hot. Leak-proof lid.",
    priceCents: 2990,
    available: 230,
  },
  {
    id: "p-1009",
    sku: "CAP-CTN-SND",
    name: "Cotton cap, sand",
    description: "Six-panel washed cotton cap with an adjustable brass buckle.",
    priceCents: 1990,
    available: 75,
  },
  {
    id: "p-1010",
    sku: "BEANIE-MRN-RED",
    name: "Merino beanie, red",
    description: "Rib-knit merino wool, double layer over the ears.",
    priceCents: 2900,
    available: 0,
  },
  {
    id: "p-1011",
    sku: "TENT-2P-ULT",
    name: "Ultralight tent, 2 person",
    description: "Freestanding double-wall tent, 1.3 kg, two doors and two vestibules.",
    priceCents: 34900,
    available: 6,
  },
  {
    id: "p-1012",
    sku: "TSHIRT-PLY-GRN-S",
    name: "Polyester T-shirt, green, S",
    description: "Discontinued: replaced by the organic cotton range.",
    priceCents: 1490,
    available: 3,
    active: false,
  },
];

const CREATED_AT = timestampFromDate(new Date("2026-01-15T09:00:00Z"));

/** A fresh copy of the seed catalogue (callers may keep and replace its messages). */
export function seedProducts(): Product[] {
  return ROWS.map((row) =>
    create(ProductSchema, {
      id: row.id,
      sku: row.sku,
      name: row.name,
      description: row.description,
      price: create(MoneySchema, { amountMinor: BigInt(row.priceCents), currency: "EUR" }),
      available: BigInt(row.available),
      active: row.active ?? true,
      createdAt: CREATED_AT,
      updatedAt: CREATED_AT,
    }),
  );
}

/** One product's stock in the seed. */
export interface SeedStock {
  readonly productId: string;
  readonly onHand: bigint;
}

/** The units in the warehouse at the first start, one per product that has any. */
export function seedStock(): SeedStock[] {
  return ROWS.filter((row) => row.available > 0).map((row) => ({
    productId: row.id,
    onHand: BigInt(row.available),
  }));
}
