// Runs an ONNX generator with onnxruntime-node for onnx_test.go:
//   node run_onnx.js MODEL.onnx Z.f32 BATCH ZDIM OUT.f32
// Z.f32 and OUT.f32 are raw little-endian float32 arrays.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, zPath, batch, zdim, outPath] = process.argv.slice(2);
  const buf = fs.readFileSync(zPath);
  const z = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const session = await ort.InferenceSession.create(model);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', z, [Number(batch), Number(zdim)]) };
  const out = (await session.run(feeds))[session.outputNames[0]];
  fs.writeFileSync(outPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(JSON.stringify({ input: session.inputNames, output: session.outputNames, dims: out.dims, ort: ort.env.versions }));
}
main().catch((e) => { console.error(e); process.exit(1); });
