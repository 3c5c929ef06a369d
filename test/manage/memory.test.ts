import { MemoryStore } from "../../core/memory-store.js";
import { manageContract } from "./manage-contract.js";

manageContract({ name: "the memory store", bulk: true, newStore: async () => new MemoryStore() });
