"""The web pages: server-rendered, calling the services through the gateway's own client."""

from __future__ import annotations

from aiohttp import web

from services.gateway.pages import (
    account,
    admin,
    devmail,
    faculty,
    invites,
    reports,
    staff,
    student,
)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", account.home)
    r.add_get("/login", account.login_form)
    r.add_post("/login", account.login_submit)
    r.add_post("/logout", account.logout_submit)

    r.add_get("/students", invites.students)
    r.add_post("/invites/new", invites.invite_new)
    r.add_post("/invites/create", invites.invite_create)
    r.add_post("/invites/preview", invites.invite_preview)
    r.add_get("/invites", invites.invites)
    r.add_get("/invites/{invite_id}", invites.invite_detail)
    r.add_post("/invites/{invite_id}/cancel", invites.invite_cancel)

    r.add_get("/duration-rules", staff.duration_rules)
    r.add_post("/duration-rules", staff.duration_rules_save)
    r.add_get("/appointments", staff.appointments)
    r.add_get("/appointments/{appointment_id}", staff.appointment_detail)
    r.add_post("/appointments/{appointment_id}/attendance", staff.appointment_attendance)
    r.add_post("/appointments/{appointment_id}/cancel", staff.appointment_cancel)

    r.add_get("/admin/widgets", admin.widgets)
    r.add_get("/admin/widgets/new", admin.widget_new)
    r.add_post("/admin/widgets", admin.widget_create)
    r.add_get("/admin/widgets/{widget_id}", admin.widget_edit)
    r.add_post("/admin/widgets/{widget_id}", admin.widget_update)

    r.add_get("/reports/appointment-invite-schedule", reports.report_form)
    r.add_post("/reports/appointment-invite-schedule", reports.report_run)

    r.add_get("/faculty/sections", faculty.sections)
    r.add_get("/faculty/sections/{section_id}", faculty.roster)

    r.add_get("/invitations/{token}", student.search)
    r.add_get("/invitations/{token}/confirm", student.confirm)
    r.add_post("/invitations/{token}/book", student.book)
    r.add_get("/invitations/{token}/appointment", student.appointment)

    r.add_get("/dev/mail", devmail.mail_viewer)
    r.add_get("/mail", devmail.mail_viewer)
