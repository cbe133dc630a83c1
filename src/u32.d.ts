// assembly/include/layout.ts is shared with AssemblyScript, where u32 is a built-in type.
// For the host it is just a number.
type u32 = number;
