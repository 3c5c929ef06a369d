import { MemoryStore } from "../../core/memory-store.js";
import { queueContract } from "./queue-contract.js";

queueContract({ name: "the memory store", bulk: true, newStore: async () => new MemoryStore() });
