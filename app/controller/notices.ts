import type { Notice } from '../store';
import type { Context } from './context';

/** Information goes away by itself after this long; an error stays until closed, or until the next photo or model. */
export const NOTICE_MS = 12_000;

/** The lines that tell the person what happened: one per topic, newest last. */
export class Notices {
  private lastId = 0;

  constructor(private readonly ctx: Context) {}

  notify(text: string, kind: Notice['kind'] = 'info', topic?: string): void {
    const id = ++this.lastId;
    this.ctx.view({ notices: [...this.ctx.get().notices.filter((n) => !topic || n.topic !== topic), { id, kind, text, topic }] });
    if (kind === 'info') setTimeout(() => this.dismiss(id), NOTICE_MS);
  }

  dismiss(id: number): void {
    this.ctx.view({ notices: this.ctx.get().notices.filter((n) => n.id !== id) });
  }

  dismissTopic(topic: string): void {
    this.ctx.view({ notices: this.ctx.get().notices.filter((n) => n.topic !== topic) });
  }

  clearErrors(): void {
    this.ctx.view({ notices: this.ctx.get().notices.filter((n) => n.kind !== 'error') });
  }
}
