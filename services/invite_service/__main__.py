from services.invite_service.app import SPEC
from shared.service_main import run

run(SPEC)
