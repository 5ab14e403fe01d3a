import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { Controller } from './controller';
import type { StudioState } from './store';

/** The page's controller, given to the components by main.tsx (tldraw's useEditor, in small). */
export const ControllerContext = createContext<Controller | null>(null);

export function useController(): Controller {
  const controller = useContext(ControllerContext);
  if (!controller) throw new Error('a component of the studio was rendered outside its ControllerContext');
  return controller;
}

/** A component reads the controller's state through this (and only reads it). */
export function useStudio<T>(selector: (state: StudioState) => T): T {
  return useStore(useController().store, selector);
}
