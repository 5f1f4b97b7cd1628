from services.gateway.app import SPEC
from shared.service_main import run

run(SPEC)
