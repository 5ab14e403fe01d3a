import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createController } from './controller';
import { pagePorts } from './page-ports';
import { ControllerContext } from './use-studio';
import './styles.css';

const controller = createController(pagePorts());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ControllerContext.Provider value={controller}><App /></ControllerContext.Provider>
  </StrictMode>,
);
