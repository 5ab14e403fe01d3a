import type { DetectedFace, FaceDetector } from './faces';
import { PhotoError, type RgbImage } from './types';

/** Every face in the photo, largest first; a photo without one is an error that offers manual alignment. */
export async function findFaces(photo: RgbImage, detector: FaceDetector, name = 'the photo'): Promise<DetectedFace[]> {
  const faces = await detector.detect(photo);
  if (faces.length === 0) {
    throw new PhotoError('no-face', `No face was found in ${name}. Mark the eyes and the mouth by hand to align it, or try another photo.`);
  }
  return faces;
}
