from shared.event_schemas import write_all

for path in write_all():
    print(path.name)
