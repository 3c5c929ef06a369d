import { MemoryManageStore } from "../../core/memory-manage-store.js";
import { MemoryStore } from "../../core/memory-store.js";
import { manageContract } from "./manage-contract.js";

manageContract({
  name: "the memory store",
  bulk: true,
  newStores: async () => {
    const store = new MemoryStore();
    return { store, manage: new MemoryManageStore(store) };
  },
});
