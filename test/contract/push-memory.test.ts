import { MemoryStore } from "../../core/memory-store.js";
import { pushContract } from "./push-contract.js";

pushContract({ name: "the memory store", newStore: async () => new MemoryStore() });
