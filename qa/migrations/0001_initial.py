# The Q&A models moved here from the documents app with their rows (documents 0003 removed them
# from documents' state without touching the database). Steps:
# 1. state only: the three models as they were, still on their documents_* tables;
# 2. AlterModelTable renames each table to qa_* (ALTER TABLE ... RENAME: no copy, foreign keys
#    follow on PostgreSQL and on SQLite >= 3.26) and RenameIndex gives the index qa's name, so the
#    database matches what a fresh install creates;
# 3. the content types follow (permissions and admin log entries keep pointing at the models).
# On a fresh database the same steps run on the empty tables documents 0001 created.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ('conversation', 'qarecord', 'qafeedback')


def content_types_to(app_label_from, app_label_to):
    def move(apps, schema_editor):
        ContentType = apps.get_model('contenttypes', 'ContentType')
        db = schema_editor.connection.alias
        for model in MODELS:
            # A type already created for the target (a partial earlier run) wins; the old one stays.
            if not ContentType.objects.using(db).filter(app_label=app_label_to, model=model).exists():
                ContentType.objects.using(db).filter(app_label=app_label_from, model=model).update(
                    app_label=app_label_to
                )

    return move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('documents', '0003_qa_models_moved_to_qa'),
        ('tenants', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Conversation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('title', models.CharField(blank=True, max_length=300)),
                        ('shared', models.BooleanField(default=False)),
                        ('document_ids', models.JSONField(blank=True, default=list, help_text='Optional restriction for every turn')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('created_by_token', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenants.apitoken')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
                    ],
                    options={
                        'ordering': ['-updated_at', '-id'],
                        'db_table': 'documents_conversation',
                    },
                ),
                migrations.CreateModel(
                    name='QaRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('question', models.TextField()),
                        ('standalone_query', models.TextField(blank=True)),
                        ('answer', models.TextField(blank=True)),
                        ('found', models.BooleanField(default=False)),
                        ('citations', models.JSONField(blank=True, default=list)),
                        ('retrieved', models.JSONField(blank=True, default=list, help_text='[{chunk_id, document_id, page, score}]')),
                        ('guardrails', models.JSONField(blank=True, default=dict)),
                        ('usage', models.JSONField(blank=True, default=dict)),
                        ('latency_ms', models.JSONField(blank=True, default=dict)),
                        ('model', models.CharField(blank=True, max_length=200)),
                        ('prompt_version', models.CharField(blank=True, max_length=40)),
                        ('flagged', models.BooleanField(default=False)),
                        ('asked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('asked_by_token', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenants.apitoken')),
                        ('conversation', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='turns', to='qa.conversation')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
                    ],
                    options={
                        'ordering': ['created_at', 'id'],
                        'db_table': 'documents_qarecord',
                        'indexes': [models.Index(fields=['tenant', 'created_at'], name='documents_q_tenant__3ceeb8_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='QaFeedback',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('rating', models.SmallIntegerField(choices=[(1, 'up'), (-1, 'down')])),
                        ('comment', models.TextField(blank=True, max_length=4000)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
                        ('record', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='feedback', to='qa.qarecord')),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'db_table': 'documents_qafeedback',
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='conversation', table=None),
        migrations.AlterModelTable(name='qarecord', table=None),
        migrations.AlterModelTable(name='qafeedback', table=None),
        migrations.RenameIndex(
            model_name='qarecord',
            new_name='qa_qarecord_tenant__ee4405_idx',
            old_name='documents_q_tenant__3ceeb8_idx',
        ),
        migrations.RunPython(content_types_to('documents', 'qa'), content_types_to('qa', 'documents')),
    ]
