import * as D from '../document';
import { failed } from '../protocol';
import type { Context } from './context';
import type { Notices } from './notices';
import type { Persistence } from './persistence';
import type { Renders } from './renders';

/** W+ codes in and out (.npy): a photo's inversion taken elsewhere, or this one's for `npm run invert`. */
export class Codes {
  constructor(
    private readonly ctx: Context,
    private readonly notices: Notices,
    private readonly renders: Renders,
    private readonly persistence: Persistence,
  ) {}

  async importFile(file: File): Promise<void> {
    const { ctx } = this;
    const bytes = new Uint8Array(await file.arrayBuffer());
    const key = ctx.newKey('codes');
    if (await this.load(bytes, file.name, ctx.ticket)) {
      ctx.blobs.set(key, new Blob([bytes]));
      ctx.dispatch((d) => D.importCodes(d, key));
      this.notices.notify(`Codes loaded from ${file.name}.`, 'info', 'codes');
      this.renders.request(false);
    }
  }

  /** Puts codes in place of the photo's inversion; false (with a notice) when the engine refuses them. */
  async load(bytes: Uint8Array, name: string, t: number): Promise<boolean> {
    const { ctx } = this;
    const result = await ctx.engine.importCodes(t, bytes);
    if (ctx.stale(t, result)) return false;
    if (failed(result)) { this.notices.notify(`${name}: ${result.error.message}`, 'error', 'codes'); return false; }
    ctx.view({ reconstruction: result.reconstruction, mse: result.mse, identity: null });
    await this.persistence.keepCurrent('subject', t);
    return true;
  }

  async exportFile(): Promise<void> {
    const { ctx } = this;
    const result = await ctx.engine.exportCodes(ctx.ticket);
    if (failed(result)) { this.notices.notify(result.error.message, 'error'); return; }
    ctx.ports.download(new Blob([result as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), `${stem(ctx.get().photo?.name)}-codes.npy`);
  }
}

/** A photo's name without its extension, for the files made from it. */
export const stem = (name: string | undefined) => (name ?? 'photo').replace(/\.[^.]+$/, '');
