import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../use-studio';

/**
 * What a person may do with what they see, and whose work it is: the project's licence, the open model's terms,
 * face-api's models, the gallery's credits, the published directions and every npm package the site ships.
 * A <details> disclosure: open or closed is the page's own business, not the document's.
 */
export function AboutPanel() {
  const { model } = useStudio(useShallow((s) => ({ model: s.model })));
  const base = import.meta.env.BASE_URL;
  return (
    <details className="about" data-testid="about">
      <summary>About &amp; credits</summary>
      <p>
        Style Transformer Studio: the code is under the <a href={`${base}LICENSE.txt`}>MIT licence</a>. Everything runs in
        this browser; a photo never leaves the machine.
      </p>
      {model && (
        <p data-testid="about-model">
          <strong>{model.name}</strong>: {model.license}. Source: {model.source}.
          {model.directionsCredit && <> {model.directionsCredit}.</>}
        </p>
      )}
      <p>
        Model weights follow their training data&apos;s terms: the demo models were trained by this project on CelebA and
        Stanford Cars, both for non-commercial research use (each model card says so). An official checkpoint you add is
        yours and stays under its own terms; the Style Transformer repository publishes no licence, which is one more
        reason this app never ships its checkpoints.
      </p>
      <p>
        Faces are found, aligned and judged with <a href="https://github.com/vladmandic/face-api">@vladmandic/face-api</a> and
        its bundled models (MIT). The directions attached to the official generators come from encoder4editing (MIT;
        InterFaceGAN and GANSpace). Sample photos: <a href={`${base}gallery/ATTRIBUTION.csv`}>their credits</a> (US-government
        portraits in the public domain; car photos under CC BY 2.0).
      </p>
      <p>
        Third-party code in this site, each package with its licence text: <a href={`${base}THIRD-PARTY-NOTICES.txt`} data-testid="notices-link">THIRD-PARTY-NOTICES.txt</a>.
      </p>
    </details>
  );
}
