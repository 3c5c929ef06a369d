import { MemoryStore } from "../../core/memory-store.js";
import { retryContract } from "./retry-contract.js";

retryContract({ name: "the memory store", newStore: async () => new MemoryStore() });
