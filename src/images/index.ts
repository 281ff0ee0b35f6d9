/**
 * Job environments as OCI images: parsing image archives (OCI image layout, `docker save`), the host's
 * content-addressed image store with digest verification, layer unpacking that refuses hostile entries,
 * whiteouts, garbage collection, and image references. It does NOT decide which tenant may use which
 * image (the images table under RLS does, in image-service.ts) nor how a rootfs is mounted (the local
 * executor's bwrap arguments do).
 */
export { createImageStore, type ImageStore, type ImportedImage } from './image-store.ts';
export { imageErrors, layerPathComponents, symlinkStaysInside, type RefusalCheck } from './layer-unpack.ts';
export { createImageService, imageServiceErrors, type ImageService, type ResolvedImage } from './image-service.ts';
