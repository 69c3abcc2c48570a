/** The part of hpack.js (no types of its own) that test/support/raw-h2.ts uses. */
declare module 'hpack.js' {
  interface Field {
    name: string;
    value: string;
  }
  interface Compressor {
    write(fields: Field[]): void;
    read(): Buffer;
  }
  interface Decompressor {
    write(block: Buffer): void;
    execute(): void;
    read(): (Field & { neverIndex: boolean }) | null;
  }
  const hpack: {
    compressor: { create(options: { table: { size: number } }): Compressor };
    decompressor: { create(options: { table: { size: number } }): Decompressor };
  };
  export default hpack;
}
