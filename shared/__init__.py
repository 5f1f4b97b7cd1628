"""What every Appointment Invites service uses: settings, events, bus, database, HTTP, clock."""
