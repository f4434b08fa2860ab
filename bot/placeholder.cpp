// placeholder until the folder has sources; delete when adding the first real .cpp
