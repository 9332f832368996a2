/** Whether this run is CI (see ci.cjs). */
export declare function inCI(): boolean;
